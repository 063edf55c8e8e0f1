/**
 * The checks one probe round runs against a target, each bounded by the probe timeout:
 *
 * 1. `tcp`: a TCP connect to the target's host and port.
 * 2. `http`: a GET of its health URL; a 2xx or 3xx answer passes (redirects are not followed).
 * 3. `mcp`: for MCP services, initialize + `ping` over Streamable HTTP (`mcp-probe.ts`); a
 *    router is shown the router token when one is configured.
 *
 * Checks run in that order and stop at the first failure: a refused connection says all there
 * is to say, and the later checks would only wait for the same failure. The round is up when
 * every check it ran passed. Its latency is the HTTP check's duration when there is one (what a
 * client of the service waits for), else the TCP connect's.
 *
 * Durations are read from the injected clock, so a test with a manual clock gets exact figures.
 */
import { connect } from "node:net";
import { request } from "undici";
import type { CheckOutcome, CheckResult, ProbeContext } from "./checks";
import { abortOutcome, errorText, result, userAgent } from "./checks";
import { timeoutSignal } from "./clock";
import { mcpCheck } from "./mcp-probe";
import type { Target } from "./targets";
import { ROUTER_SERVICE } from "./targets";

/** The result of one probe round. */
export interface ProbeResult {
  readonly up: boolean;
  readonly latencyMs: number;
  readonly checks: readonly CheckResult[];
}

/** Probes a target, returning what its checks found. Never rejects. */
export type Prober = (target: Target, context: ProbeContext) => Promise<ProbeResult>;

/** Runs a target's checks in order, stopping at the first that fails. */
export const probeTarget: Prober = async (target, context) => {
  const checks: CheckResult[] = [await tcpCheck(target.host, target.port, context)];
  if (checks[0]?.outcome === "success" && target.healthUrl !== undefined) {
    checks.push(await httpCheck(target.healthUrl, context));
  }
  if (checks.at(-1)?.outcome === "success" && target.mcpUrl !== undefined) {
    const token = target.service === ROUTER_SERVICE ? context.routerToken : undefined;
    checks.push(await mcpCheck(target.mcpUrl, context, token));
  }
  const main = checks.find((check) => check.kind === "http") ?? checks[0];
  return {
    up: checks.every((check) => check.outcome === "success"),
    latencyMs: main?.durationMs ?? 0,
    checks,
  };
};

/** A TCP connect to `host:port`, closed as soon as it is established. */
export function tcpCheck(host: string, port: number, context: ProbeContext): Promise<CheckResult> {
  const { clock } = context;
  const started = clock.monotonic();
  const timed = timeoutSignal(clock, context.timeoutMs, context.signal);
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let settled = false;
    const finish = (outcome: CheckOutcome, error?: string) => {
      if (settled) return;
      settled = true;
      timed.dispose();
      socket.destroy();
      resolve(result("tcp", outcome, clock.monotonic() - started, error));
    };
    const onAbort = () => finish(...abortOutcome(timed.signal));
    if (timed.signal.aborted) onAbort();
    else timed.signal.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => finish("success"));
    socket.once("error", (error) => finish("failure", errorText(error)));
  });
}

/**
 * `url` without its `user:password@`, and those as a Basic `Authorization` header: undici sends
 * no credentials from a URL by itself, so a protected target (HAProxy's stats page behind
 * `stats auth`) would only ever answer 401.
 */
export function withBasicAuth(url: string): { url: string; authorization?: string } {
  const parsed = new URL(url);
  if (parsed.username === "" && parsed.password === "") return { url };
  const user = `${decoded(parsed.username)}:${decoded(parsed.password)}`;
  parsed.username = "";
  parsed.password = "";
  return { url: parsed.href, authorization: `Basic ${Buffer.from(user, "utf8").toString("base64")}` };
}

/** A URL component percent-decoded, or as written when it is not valid percent-encoding. */
function decoded(component: string): string {
  try {
    return decodeURIComponent(component);
  } catch {
    return component;
  }
}

/** Most of a health answer's body a probe reads. */
const MAX_BODY_READ = 64 * 1024;

/**
 * Reads and discards `body` up to its end or `limit` bytes; rejects when it fails first (the
 * connection dropped, the probe timed out). undici's `dump()` would resolve on any close and so
 * pass an answer whose body never came.
 */
async function readBody(body: AsyncIterable<Buffer>, limit: number): Promise<void> {
  let read = 0;
  for await (const chunk of body) {
    read += chunk.length;
    if (read >= limit) return;
  }
}

/**
 * A GET of `url`: 2xx and 3xx pass, once their body (read and discarded up to 64 KiB) has come
 * whole. Credentials in the URL are sent as Basic auth.
 */
export async function httpCheck(target: string, context: ProbeContext): Promise<CheckResult> {
  const { clock } = context;
  let sent: ReturnType<typeof withBasicAuth>;
  try {
    sent = withBasicAuth(target);
  } catch (error) {
    return result("http", "failure", 0, `not a URL: ${errorText(error)}`);
  }
  const { url, authorization } = sent;
  const started = clock.monotonic();
  const timed = timeoutSignal(clock, context.timeoutMs, context.signal);
  // undici's own timeouts only back the clock's up, in case a timer is lost.
  const backstopMs = context.timeoutMs + 5_000;
  try {
    const response = await request(url, {
      method: "GET",
      headers: {
        accept: "application/json",
        "user-agent": userAgent(context.version),
        ...(authorization === undefined ? {} : { authorization }),
      },
      signal: timed.signal,
      headersTimeout: backstopMs,
      bodyTimeout: backstopMs,
      ...(context.dispatcher === undefined ? {} : { dispatcher: context.dispatcher }),
    });
    await readBody(response.body, MAX_BODY_READ);
    const durationMs = clock.monotonic() - started;
    if (response.statusCode >= 200 && response.statusCode < 400) return result("http", "success", durationMs);
    return result("http", "failure", durationMs, `HTTP ${response.statusCode}`);
  } catch (error) {
    const durationMs = clock.monotonic() - started;
    if (timed.signal.aborted) {
      const [outcome, reason] = abortOutcome(timed.signal);
      return result("http", outcome, durationMs, reason);
    }
    return result("http", "failure", durationMs, errorText(error));
  } finally {
    timed.dispose();
  }
}
