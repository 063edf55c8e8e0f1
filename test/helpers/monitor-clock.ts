/**
 * A manual clock for the network-monitor (`Clock` in services/network-monitor/src/clock.ts):
 * time moves only when a test calls `advance`, which fires due timers in order. Probes against
 * real sockets then get exact durations (a test server advances the clock while it answers) and
 * timeouts fire exactly when the test says, with no sleeps.
 */
import type { Clock, TimerHandle } from "../../services/network-monitor/src/clock";

/** 2026-01-01T12:00:00.000Z: where manual clocks start unless told otherwise. */
export const CLOCK_START = Date.UTC(2026, 0, 1, 12, 0, 0);

interface Timer {
  readonly due: number;
  readonly id: number;
  readonly callback: () => void;
}

/** A clock that only moves when told to. */
export class ManualClock implements Clock {
  private time: number;
  private readonly origin: number;
  /** How far the wall clock was stepped (`stepWallClock`); timers and monotonic time ignore it. */
  private wallStep = 0;
  private readonly timers = new Map<number, Timer>();
  private nextId = 1;

  constructor(start: number = CLOCK_START) {
    this.time = start;
    this.origin = start;
  }

  now(): number {
    return this.time + this.wallStep;
  }

  /**
   * Steps the wall clock by `ms` (negative: back), as NTP or an operator may; monotonic time
   * and timers go on unaffected, as they do on a real host.
   */
  stepWallClock(ms: number): void {
    this.wallStep += ms;
  }

  monotonic(): number {
    return this.time - this.origin;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { due: this.time + Math.max(0, ms), id, callback });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  /** Timers waiting to fire. */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way, earliest first
   * (ties in the order they were set), each with the clock reading its due time. Timers set by a
   * callback fire too if they fall due within the advance.
   */
  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      let next: Timer | undefined;
      for (const timer of this.timers.values()) {
        if (timer.due > target) continue;
        if (next === undefined || timer.due < next.due || (timer.due === next.due && timer.id < next.id)) {
          next = timer;
        }
      }
      if (next === undefined) break;
      this.timers.delete(next.id);
      this.time = Math.max(this.time, next.due);
      next.callback();
    }
    this.time = target;
  }
}
