/**
 * What the router's HTTP routes share, and the session check of its MCP endpoints (the other
 * Streamable HTTP checks are the shared kit's, `streamable-http.ts`).
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "@mcp-platform/shared";
import { sessionIdOf, sessionNotFound } from "@mcp-platform/shared";
import type { Catalog } from "../catalog/catalog";
import type { GatewayHandler } from "../mcp/gateway-handler";
import type { InFlight } from "../mcp/in-flight";
import type { RouterMetrics } from "../metrics";
import type { SessionPayload, SessionSealer } from "../session-token";
import type { Upstreams } from "../upstream/upstreams";
import type { ClientStreams } from "./client-streams";
import type { DrainGate } from "./drain";
import type { Peers } from "./peers";
import type { StreamLimit } from "./stream-limit";

/** Everything the routes use. */
export interface RouterContext {
  readonly sealer: SessionSealer;
  readonly handler: GatewayHandler;
  readonly catalog: Catalog;
  readonly upstreams: Upstreams;
  readonly inFlight: InFlight;
  readonly streams: ClientStreams;
  /** The cap on this replica's open client streams (`ROUTER_MAX_STREAMS`). */
  readonly streamLimit: StreamLimit;
  readonly peers: Peers;
  readonly metrics: RouterMetrics;
  readonly logger: Logger;
  /** The SIGTERM drain: while it runs, responses close their connections. */
  readonly drain: DrainGate;
  /** Interval of keep-alive comments on streams. */
  readonly keepAliveMs: number;
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
  const token = sessionIdOf(request, reply);
  if (token === undefined) return undefined;
  const payload = context.sealer.open(token);
  if (payload?.t !== kind) {
    void sessionNotFound(reply);
    return undefined;
  }
  return { token, payload: payload as Extract<SessionPayload, { t: K }> };
}
