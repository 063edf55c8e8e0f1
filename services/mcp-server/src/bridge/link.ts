/**
 * A link to one MCP server the bridge talks to: a stdio child process or the in-process
 * built-in server. Links move raw JSON-RPC messages; framing is the SDK's (stdio `ReadBuffer` /
 * `serializeMessage`, `InMemoryTransport`).
 */
import type { InitializeResult, JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js";

/** A started link to one MCP server. */
export interface Link {
  /** For logs and metrics: `stdio[1]#3` (slot 1, third start). */
  readonly name: string;
  /** Send a message to the server; throws when the link is down. */
  send(message: JSONRPCMessage): void;
  /** Messages from the server. */
  onmessage?: (message: JSONRPCMessage) => void;
  /** Called once when the link goes down for any reason, with a human-readable cause. */
  onexit?: (cause: string) => void;
  /** Why the link went down, once it has (it may go down before anyone listens). */
  readonly exitCause?: string;
  /** Stop the server (and, for a child, its whole process group); resolves once it is gone. */
  close(): Promise<void>;
}

/** Client identity the bridge presents to the servers it hosts. */
export const BRIDGE_CLIENT_INFO = { name: "mcp-platform-bridge", version: "0.1.0" } as const;

/**
 * What a link sent after its `initialize` answer, before its owner installed its own handler
 * (a child may announce `list_changed` or log right after the answer, in the same chunk).
 */
const early = new WeakMap<Link, { readonly held: JSONRPCMessage[]; readonly holder: Link["onmessage"] }>();

/** Hands what `link` sent since its handshake to the handler its owner installed meanwhile. */
export function deliverEarlyMessages(link: Link): void {
  const entry = early.get(link);
  early.delete(link);
  if (entry === undefined || link.onmessage === entry.holder) return;
  for (const message of entry.held) link.onmessage?.(message);
}

/** The id of the bridge's own `initialize` request on a link (client ids are numbers from 1). */
const INIT_ID = "mcp-platform-bridge-init";

/**
 * Run the MCP handshake on a fresh link: `initialize`, then `notifications/initialized`.
 * Resolves with the server's result; rejects when the server answers an error, goes down, or
 * does not answer within `timeoutMs`. What the server sends after its answer is held for the
 * handler the caller installs next (`deliverEarlyMessages`).
 */
export function initializeLink(link: Link, timeoutMs: number): Promise<InitializeResult> {
  return new Promise((resolve, reject) => {
    if (link.exitCause !== undefined) {
      reject(new Error(link.exitCause));
      return;
    }
    const timer = setTimeout(
      () => reject(new Error(`no initialize answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const previousExit = link.onexit;
    link.onexit = (cause) => {
      clearTimeout(timer);
      reject(new Error(`went down during initialize: ${cause}`));
      previousExit?.(cause);
    };
    link.onmessage = (message) => {
      if (!("id" in message) || message.id !== INIT_ID) return;
      clearTimeout(timer);
      link.onexit = previousExit;
      if ("error" in message) {
        reject(new Error(`initialize failed: ${message.error.message}`));
        return;
      }
      if (!("result" in message)) return;
      try {
        link.send({ jsonrpc: "2.0", method: "notifications/initialized" });
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      const held: JSONRPCMessage[] = [];
      const holder = (next: JSONRPCMessage) => void held.push(next);
      early.set(link, { held, holder });
      link.onmessage = holder;
      resolve(message.result as InitializeResult);
    };
    try {
      link.send({
        jsonrpc: "2.0",
        id: INIT_ID,
        method: "initialize",
        // No client capabilities: the bridge serves many sessions, so it cannot answer a
        // server's roots, sampling or elicitation requests on behalf of one of them.
        params: {
          protocolVersion: LATEST_PROTOCOL_VERSION,
          capabilities: {},
          clientInfo: BRIDGE_CLIENT_INFO,
        },
      });
    } catch (error) {
      clearTimeout(timer);
      reject(error instanceof Error ? error : new Error(String(error)));
    }
  });
}
