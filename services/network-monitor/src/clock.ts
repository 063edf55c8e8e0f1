/**
 * Time as the monitor sees it. Every timer the monitor sets (the probe interval, probe timeouts,
 * discovery backoff) goes through a `Clock`, so tests drive probing with a manual clock and real
 * sockets instead of sleeping, and production uses `systemClock`.
 */

/** An opaque timer handle, as returned by `Clock.setTimeout`. */
export type TimerHandle = unknown;

/** Wall time, monotonic time and timers. */
export interface Clock {
  /** Wall-clock milliseconds since the epoch: the timestamp of a sample. */
  now(): number;
  /** Monotonic milliseconds: durations are differences of two readings. */
  monotonic(): number;
  /** Calls `callback` once after `ms`. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Cancels a timer; a no-op for one that fired or was cancelled. */
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `Date.now`, `performance.now` and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** The reason a check's signal carries when its time ran out. */
export class ProbeTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms`);
    this.name = "ProbeTimeoutError";
  }
}

/** A signal that aborts after a delay or with its parent, and the means to release its timer. */
export interface TimedSignal {
  readonly signal: AbortSignal;
  /** Clears the timer and the link to the parent; call it when the guarded work is over. */
  dispose(): void;
}

/**
 * A signal aborted with a `ProbeTimeoutError` after `ms` on `clock`, or with the parent's reason
 * when `parent` aborts first.
 */
export function timeoutSignal(clock: Clock, ms: number, parent?: AbortSignal): TimedSignal {
  const controller = new AbortController();
  const timer = clock.setTimeout(() => controller.abort(new ProbeTimeoutError(ms)), ms);
  const onParentAbort = () => controller.abort(parent?.reason);
  if (parent?.aborted === true) onParentAbort();
  else parent?.addEventListener("abort", onParentAbort, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      clock.clearTimeout(timer);
      parent?.removeEventListener("abort", onParentAbort);
    },
  };
}

/** Resolves after `ms` on `clock`; rejects with the signal's reason when `signal` aborts first. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => {
      clock.clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
