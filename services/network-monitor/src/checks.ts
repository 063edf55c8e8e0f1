/**
 * What every check shares: kinds, outcomes, results, the context checks run in, and the helpers
 * that turn an abort or an error into a short, bounded reason.
 */
import type { Dispatcher } from "undici";
import type { Clock } from "./clock";
import { ProbeTimeoutError } from "./clock";

/** What a check does. */
export type CheckKind = "tcp" | "http" | "mcp";

/** Every check kind, in the order a round runs them. */
export const CHECK_KINDS: readonly CheckKind[] = ["tcp", "http", "mcp"];

/** How a check ended: a timeout is a failure worth telling apart (a hung peer, not a dead one). */
export type CheckOutcome = "success" | "failure" | "timeout";

/** Every check outcome. */
export const CHECK_OUTCOMES: readonly CheckOutcome[] = ["success", "failure", "timeout"];

/** The result of one check. */
export interface CheckResult {
  readonly kind: CheckKind;
  readonly outcome: CheckOutcome;
  readonly durationMs: number;
  /** Why it failed, briefly (`ECONNREFUSED`, `HTTP 503`, `timed out after 2000 ms`). */
  readonly error?: string;
}

/** What checks need besides the target. */
export interface ProbeContext {
  readonly clock: Clock;
  /** Budget of each check. */
  readonly timeoutMs: number;
  /** Aborts every check at once (the monitor is stopping). */
  readonly signal: AbortSignal;
  /** undici dispatcher of the HTTP checks; the global one by default. */
  readonly dispatcher?: Dispatcher;
  /** Sent as `User-Agent` and as the MCP client version. */
  readonly version: string;
  /**
   * Bearer token for the MCP probe of routers that require one (`ROUTER_AUTH_TOKENS`); never
   * sent to any other target.
   */
  readonly routerToken?: string;
}

/** Longest error text kept: enough for a reason, bounded for the API and the logs. */
const MAX_ERROR_LENGTH = 160;

/** A check's result; `error` is trimmed to a bounded length. */
export function result(
  kind: CheckKind,
  outcome: CheckOutcome,
  durationMs: number,
  error?: string,
): CheckResult {
  if (error === undefined) return { kind, outcome, durationMs };
  return { kind, outcome, durationMs, error: error.slice(0, MAX_ERROR_LENGTH) };
}

/** How an aborted check ended: `timeout` when its own time ran out, else a failure. */
export function abortOutcome(signal: AbortSignal): [CheckOutcome, string] {
  const reason: unknown = signal.reason;
  if (reason instanceof ProbeTimeoutError) return ["timeout", reason.message];
  return ["failure", "aborted"];
}

/**
 * A short reason: a system error's code (`ECONNREFUSED`), else the message. Read by shape, not
 * `instanceof`, since errors from Node's internals may come from another realm (as under jest).
 */
export function errorText(error: unknown): string {
  if (typeof error === "object" && error !== null) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return code;
    if (typeof message === "string") return message;
  }
  return String(error);
}

/** The monitor's `User-Agent`. */
export function userAgent(version: string): string {
  return `mcp-platform-network-monitor/${version}`;
}
