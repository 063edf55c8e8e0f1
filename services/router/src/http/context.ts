/**
 * What the router's HTTP routes share, and the checks every MCP endpoint makes before a message
 * is handled: the JSON-RPC shape of a body (with the SDK's schema), the `Accept` and
 * `MCP-Protocol-Version` headers, and the session id.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { JSONRPCMessageSchema, SUPPORTED_PROTOCOL_VERSIONS } from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "@mcp-platform/shared";
import { JSONRPC_ERROR, sendJsonRpcError } from "@mcp-platform/shared";
import type { Catalog } from "../catalog/catalog";
import type { GatewayHandler } from "../mcp/gateway-handler";
import type { InFlight } from "../mcp/in-flight";
import type { RouterMetrics } from "../metrics";
import type { SessionPayload, SessionSealer } from "../session-token";
import type { Upstreams } from "../upstream/upstreams";
import type { ClientStreams } from "./client-streams";
import type { DrainGate } from "./drain";
import type { Peers } from "./peers";

/** The session-id header of Streamable HTTP. */
export const SESSION_HEADER = "mcp-session-id";
/** The protocol-version header of Streamable HTTP. */
export const PROTOCOL_HEADER = "mcp-protocol-version";
/** MCP's "session not found" code, as the SDK uses it. */
export const SESSION_NOT_FOUND = -32001;
/** Most messages in one batch. */
export const MAX_BATCH = 100;

/** Everything the routes use. */
export interface RouterContext {
  readonly sealer: SessionSealer;
  readonly handler: GatewayHandler;
  readonly catalog: Catalog;
  readonly upstreams: Upstreams;
  readonly inFlight: InFlight;
  readonly streams: ClientStreams;
  readonly peers: Peers;
  readonly metrics: RouterMetrics;
  readonly logger: Logger;
  /** The SIGTERM drain: while it runs, responses close their connections. */
  readonly drain: DrainGate;
  /** Interval of keep-alive comments on streams. */
  readonly keepAliveMs: number;
}

/** A body as JSON-RPC messages, or why it is not (JSON-RPC "Invalid Request"). */
export function parseMessages(body: unknown): { messages: JSONRPCMessage[] } | { invalid: string } {
  const items = Array.isArray(body) ? body : [body];
  if (items.length === 0) return { invalid: "Invalid Request: empty batch" };
  if (items.length > MAX_BATCH)
    return { invalid: `Invalid Request: a batch holds at most ${MAX_BATCH} messages` };
  const messages: JSONRPCMessage[] = [];
  for (const item of items) {
    const parsed = JSONRPCMessageSchema.safeParse(item);
    if (!parsed.success) return { invalid: "Invalid Request: not a JSON-RPC 2.0 message" };
    messages.push(parsed.data);
  }
  return { messages };
}

/** Answers 400 Invalid Request. */
export function invalidRequest(reply: FastifyReply, message: string): FastifyReply {
  return sendJsonRpcError(reply, 400, JSONRPC_ERROR.invalidRequest, message);
}

/** Whether the `Accept` header lists every one of `types` (a substring check, as the SDK does). */
export function accepts(request: FastifyRequest, types: readonly string[]): boolean {
  const accept = request.headers.accept ?? "";
  return types.every((type) => accept.includes(type) || accept.includes("*/*"));
}

/** Answers 406 unless the client accepts `types`; true when the request may go on. */
export function checkAccept(request: FastifyRequest, reply: FastifyReply, types: readonly string[]): boolean {
  if (accepts(request, types)) return true;
  void sendJsonRpcError(
    reply,
    406,
    JSONRPC_ERROR.refused,
    `Not Acceptable: the client must accept ${types.join(" and ")}`,
  );
  return false;
}

/** Answers 400 for an unsupported `MCP-Protocol-Version`; true when the request may go on. */
export function checkProtocolVersion(request: FastifyRequest, reply: FastifyReply): boolean {
  const version = request.headers[PROTOCOL_HEADER];
  if (
    version === undefined ||
    (typeof version === "string" && SUPPORTED_PROTOCOL_VERSIONS.includes(version))
  ) {
    return true;
  }
  void sendJsonRpcError(
    reply,
    400,
    JSONRPC_ERROR.refused,
    `Bad Request: Unsupported protocol version: ${String(version)} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(", ")})`,
  );
  return false;
}

/**
 * The session a request names in `Mcp-Session-Id`, when it is a valid session of kind `kind`;
 * otherwise answers 400 (no header) or 404 (not a session this platform issued, or expired) and
 * returns undefined.
 */
export function sessionOf<K extends SessionPayload["t"]>(
  context: RouterContext,
  request: FastifyRequest,
  reply: FastifyReply,
  kind: K,
): { token: string; payload: Extract<SessionPayload, { t: K }> } | undefined {
  const token = request.headers[SESSION_HEADER];
  if (typeof token !== "string" || token === "") {
    void sendJsonRpcError(
      reply,
      400,
      JSONRPC_ERROR.refused,
      "Bad Request: Mcp-Session-Id header is required",
    );
    return undefined;
  }
  const payload = context.sealer.open(token);
  if (payload?.t !== kind) {
    void sendJsonRpcError(reply, 404, SESSION_NOT_FOUND, "Session not found");
    return undefined;
  }
  return { token, payload: payload as Extract<SessionPayload, { t: K }> };
}
