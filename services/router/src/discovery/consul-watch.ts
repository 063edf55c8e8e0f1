/**
 * One Consul blocking query, followed for as long as the router runs
 * (https://developer.hashicorp.com/consul/api-docs/features/blocking): each read passes the
 * previous answer's `X-Consul-Index`, so Consul holds it until something changes or the wait
 * ends. Failures keep the last answer in place (the caller simply hears nothing new) and are
 * retried with capped exponential backoff; a minimum gap between reads stops a misbehaving agent
 * (one that never blocks) from making the loop spin.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { backoffDelay, errorText, MAX_CONSUL_ANSWER_BYTES, readBoundedText } from "@mcp-platform/shared";

/** Timing of a watch. */
export interface WatchTiming {
  /** How long Consul may hold a read (Consul adds up to wait/16 of jitter). */
  readonly waitSeconds: number;
  /** Least time between two reads. */
  readonly minGapMs: number;
  /** Backoff after failures: base delay, doubled per failure, capped. */
  readonly backoff: { readonly baseDelayMs: number; readonly maxDelayMs: number };
  /** Timeout of a read on top of the wait. */
  readonly requestTimeoutMs: number;
}

/** Defaults: 55 s waits (under most proxies' idle timeouts), 1 s → 30 s backoff. */
export const DEFAULT_WATCH_TIMING: WatchTiming = {
  waitSeconds: 55,
  minGapMs: 250,
  backoff: { baseDelayMs: 1_000, maxDelayMs: 30_000 },
  requestTimeoutMs: 5_000,
};

/** What a watch reads and where its answers go. */
export interface WatchOptions<T> {
  /** `CONSUL_HTTP_ADDR`, without a trailing slash. */
  readonly address: string;
  /** Path and query without `index`/`wait`, e.g. `/v1/health/service/mcp-files?passing=true`. */
  readonly path: string;
  /** `CONSUL_HTTP_TOKEN`. */
  readonly token?: string | undefined;
  /** Turns a JSON answer into a value; throws on an answer that does not fit. */
  readonly parse: (body: unknown) => T;
  /** Every successful answer, in order. */
  readonly onValue: (value: T) => void;
  /** Every failure, with the count of failures in a row. */
  readonly onError: (error: string, failures: number) => void;
  readonly timing: WatchTiming;
  /** Ends the watch. */
  readonly signal: AbortSignal;
}

/**
 * The index for the next blocking read, following Consul's rules: a missing, invalid or
 * backwards index restarts from 0 (a plain read); an index below 1 becomes 1.
 */
export function nextIndex(previous: number, header: string | null): number {
  if (header === null || !/^\d+$/.test(header)) return 0;
  const index = Number(header);
  if (!Number.isSafeInteger(index) || index < previous) return 0;
  return Math.max(1, index);
}

/** Follows one blocking query until `signal` aborts. Never rejects. */
export async function watch<T>(options: WatchOptions<T>): Promise<void> {
  const { timing, signal } = options;
  const backoff = { attempts: Number.POSITIVE_INFINITY, ...timing.backoff };
  let index = 0;
  let failures = 0;
  while (!signal.aborted) {
    const separator = options.path.includes("?") ? "&" : "?";
    const query = index > 0 ? `${separator}index=${index}&wait=${timing.waitSeconds}s` : "";
    const timeoutMs =
      (index > 0 ? Math.ceil(timing.waitSeconds * 1000 * (17 / 16)) : 0) + timing.requestTimeoutMs;
    try {
      const headers: Record<string, string> = { accept: "application/json" };
      if (options.token !== undefined) headers["x-consul-token"] = options.token;
      const response = await fetch(`${options.address}${options.path}${query}`, {
        headers,
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
      });
      const text = await readBoundedText(response.body, MAX_CONSUL_ANSWER_BYTES);
      if (response.status !== 200) {
        throw new Error(`HTTP ${response.status}: ${text.trim().slice(0, 200)}`);
      }
      const value = options.parse(JSON.parse(text) as unknown);
      index = nextIndex(index, response.headers.get("x-consul-index"));
      failures = 0;
      options.onValue(value);
      await sleep(timing.minGapMs, undefined, { signal }).catch(() => undefined);
    } catch (error) {
      if (signal.aborted) return;
      failures++;
      index = 0;
      options.onError(errorText(error).slice(0, 300), failures);
      await sleep(backoffDelay(backoff, failures), undefined, { signal }).catch(() => undefined);
    }
  }
}
