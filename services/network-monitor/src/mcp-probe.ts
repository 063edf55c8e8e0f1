/**
 * The MCP-level check: a real MCP client session against a service's Streamable HTTP endpoint
 * (`initialize`, then `ping`), closed right after. It proves more than `/health` can: that the
 * service answers the protocol its clients speak.
 *
 * The whole exchange, including the session's DELETE, is bounded by the probe timeout. The SDK's
 * own request timeout is set past it only as a backstop.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CheckResult, ProbeContext } from "./checks";
import { abortOutcome, errorText, result, userAgent } from "./checks";
import { timeoutSignal } from "./clock";

/** Client name the monitor announces in `initialize`. */
export const MCP_CLIENT_NAME = "mcp-platform-network-monitor";

/** Opens an MCP session at `url`, pings, and closes it; `bearer` is sent as `Authorization`. */
export async function mcpCheck(url: string, context: ProbeContext, bearer?: string): Promise<CheckResult> {
  const { clock } = context;
  const started = clock.monotonic();
  const timed = timeoutSignal(clock, context.timeoutMs, context.signal);
  const transport = new StreamableHTTPClientTransport(new URL(url), {
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
