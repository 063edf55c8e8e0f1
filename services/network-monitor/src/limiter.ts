/**
 * A concurrency limiter: at most `limit` tasks run at once, the rest wait in arrival order. The
 * monitor runs probes through one, so a large catalog never opens every socket at once, and
 * discovery reads service health through another.
 */

/**
 * Runs `task` when a slot is free; resolves or rejects as the task does. A `deferred` task waits
 * behind every task that is not, and deferred tasks hold at most half the slots (at least one):
 * the monitor defers probes of targets that were down, so targets that hang until the probe
 * timeout cannot starve the healthy ones of slots, even when a timeout outlasts a round.
 */
export type Limiter = <T>(task: () => Promise<T>, deferred?: boolean) => Promise<T>;

/** Creates a limiter allowing `limit` tasks at once. */
export function createLimiter(limit: number): Limiter {
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`limit ${limit} must be an integer >= 1`);
  const deferredLimit = Math.max(1, Math.floor(limit / 2));
  let running = 0;
  let runningDeferred = 0;
  const waiting: (() => void)[] = [];
  const deferredWaiting: (() => void)[] = [];
  const mayStart = (deferred: boolean) => running < limit && (!deferred || runningDeferred < deferredLimit);
  const startNext = () => {
    if (waiting.length > 0 && mayStart(false)) waiting.shift()?.();
    else if (mayStart(true)) deferredWaiting.shift()?.();
  };
  return <T>(task: () => Promise<T>, deferred = false): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const start = () => {
        running++;
        if (deferred) runningDeferred++;
        // Promise.resolve().then: a task that throws synchronously still releases its slot.
        Promise.resolve()
          .then(task)
          .then(resolve, reject)
          .finally(() => {
            running--;
            if (deferred) runningDeferred--;
            startNext();
          });
      };
      if (mayStart(deferred) && (deferred ? waiting.length === 0 : true)) start();
      else (deferred ? deferredWaiting : waiting).push(start);
    });
}
