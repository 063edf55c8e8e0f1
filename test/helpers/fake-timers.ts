/**
 * Jest fake timers for one kind of timer only, so a test controls exactly the clock the code under
 * test waits on (a call timeout, a resync interval) while sockets, `setImmediate`, microtasks and
 * the wall clock stay real.
 */

/** The timer pairs a test may fake alone. */
type TimerKind = "timeout" | "interval";

const PAIRS = {
  timeout: ["setTimeout", "clearTimeout"],
  interval: ["setInterval", "clearInterval"],
} as const;

/** Everything Jest can fake that stays real whatever the kind. */
const ALWAYS_REAL = [
  "Date",
  "hrtime",
  "nextTick",
  "performance",
  "queueMicrotask",
  "setImmediate",
  "clearImmediate",
] as const;

/** Fakes only `set<Kind>`/`clear<Kind>`; undo with `jest.useRealTimers()`. */
export function fakeOnly(kind: TimerKind): void {
  const other = kind === "timeout" ? PAIRS.interval : PAIRS.timeout;
  jest.useFakeTimers({ doNotFake: [...ALWAYS_REAL, ...other] });
}
