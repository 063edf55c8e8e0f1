/**
 * The MCP-level check: a real MCP client session against a service's Streamable HTTP endpoint
 * (`initialize`, then `ping`), closed right after. It proves more than `/health` can: that the
 * service answers the protocol its clients speak.
 *
 * The whole exchange, including the session's DELETE, is bounded by the probe timeout, and each
 * answer by `MAX_MCP_ANSWER_BYTES`. The SDK's own request timeout is set past it only as a
 * backstop.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { FetchLike } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { CheckResult, ProbeContext } from "./checks";
import { abortOutcome, errorText, result, userAgent } from "./checks";
import { timeoutSignal } from "./clock";

/** Client name the monitor announces in `initialize`. */
export const MCP_CLIENT_NAME = "mcp-platform-network-monitor";

/** Most bytes of one answer the check reads: `initialize` and `ping` answers are small. */
export const MAX_MCP_ANSWER_BYTES = 1024 * 1024;

/**
 * `fetch` whose answers end in an error past `MAX_MCP_ANSWER_BYTES` (which also stops their
 * download): the SDK reads a JSON answer whole, so a service answering without end would
 * otherwise fill the monitor's memory until the probe timed out. `exceeded` is told too: the
 * SDK's SSE reader drops a stream's error, which would leave the request waiting.
 */
function boundedFetch(exceeded: (error: Error) => void): FetchLike {
  return async (url, init) => {
    const response = await fetch(url, init);
    if (response.body === null) return response;
    let read = 0;
    const bounded = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          read += chunk.byteLength;
          if (read > MAX_MCP_ANSWER_BYTES) {
            const error = new Error(`the answer exceeded ${MAX_MCP_ANSWER_BYTES} bytes`);
            exceeded(error);
            controller.error(error);
          } else {
            controller.enqueue(chunk);
          }
        },
      }),
    );
    const { status, statusText, headers } = response;
    return new Response(bounded, { status, statusText, headers });
  };
}

/** Opens an MCP session at `url`, pings, and closes it; `bearer` is sent as `Authorization`. */
export async function mcpCheck(url: string, context: ProbeContext, bearer?: string): Promise<CheckResult> {
  const { clock } = context;
  const started = clock.monotonic();
  let endpoint: URL;
  try {
    endpoint = new URL(url);
  } catch (error) {
    return result("mcp", "failure", 0, `not a URL: ${errorText(error)}`);
  }
  const timed = timeoutSignal(clock, context.timeoutMs, context.signal);
  /** An answer past the size limit: the check fails on it at once. */
  let oversized: Error | undefined;
  const transport = new StreamableHTTPClientTransport(endpoint, {
    fetch: boundedFetch((error) => {
      oversized ??= error;
      void client.close().catch(() => undefined);
    }),
    requestInit: {
      headers: {
        "user-agent": userAgent(context.version),
        ...(bearer === undefined ? {} : { authorization: `Bearer ${bearer}` }),
      },
    },
    // One attempt per probe: the next round is the retry.
    reconnectionOptions: {
      maxRetries: 0,
      initialReconnectionDelay: 1000,
      maxReconnectionDelay: 1000,
      reconnectionDelayGrowFactor: 1,
    },
  });
  const client = new Client({ name: MCP_CLIENT_NAME, version: context.version }, { capabilities: {} });
  // Closing the client closes the transport, which aborts its in-flight HTTP requests.
  const onAbort = () => void client.close().catch(() => undefined);
  timed.signal.addEventListener("abort", onAbort, { once: true });
  const options = { signal: timed.signal, timeout: context.timeoutMs + 5_000 };
  try {
    await client.connect(transport, options);
    await client.ping(options);
    const durationMs = clock.monotonic() - started;
    // Free the server's session now rather than leave it to its idle timeout. The server
    // answered the protocol already, so a failed DELETE does not make it down.
    await transport.terminateSession().catch(() => undefined);
    return result("mcp", "success", durationMs);
  } catch (error) {
    const durationMs = clock.monotonic() - started;
    if (oversized !== undefined) return result("mcp", "failure", durationMs, oversized.message);
    if (timed.signal.aborted) {
      const [outcome, reason] = abortOutcome(timed.signal);
      return result("mcp", outcome, durationMs, reason);
    }
    return result("mcp", "failure", durationMs, mcpErrorText(error));
  } finally {
    timed.signal.removeEventListener("abort", onAbort);
    timed.dispose();
    await client.close().catch(() => undefined);
  }
}

/** A short reason: `HTTP 404` when the endpoint answered with an HTTP error, else the message. */
export function mcpErrorText(error: unknown): string {
  if (error instanceof StreamableHTTPError && error.code !== undefined && error.code >= 100) {
    return `HTTP ${error.code}`;
  }
  return errorText(error);
}
