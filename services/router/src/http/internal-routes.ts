/**
 * The endpoints replicas call on each other (`/internal/v1/...`), closed to everyone else by the
 * peer token (`x-router-peer`, sealed with the shared session key): a request without a valid
 * one gets the same 404 as an unknown path.
 */
import type { FastifyInstance } from "fastify";
import type { RequestId } from "@modelcontextprotocol/sdk/types.js";
import { isRequestId } from "@mcp-platform/shared";
import type { RouterContext } from "./context";
import { INTERNAL_PATHS, PEER_HEADER } from "./peers";
import type { SseSessions } from "./sse-routes";
import { internalSseRoute } from "./sse-routes";

/** Registers the internal endpoints in their own scope. */
export async function internalRoutes(
  app: FastifyInstance,
  options: { context: RouterContext; sse: SseSessions },
): Promise<void> {
  const { context, sse } = options;
  app.addHook("onRequest", async (request, reply) => {
    if (context.peers.verify(request.headers[PEER_HEADER])) return;
    await reply.code(404).send({
      message: `Route ${request.method}:${request.url} not found`,
      error: "Not Found",
      statusCode: 404,
    });
  });

  app.post<{ Body: { session?: string; requestId?: RequestId; reason?: string } }>(
    INTERNAL_PATHS.cancel,
    async (request, reply) => {
      const { session, requestId, reason } = request.body ?? {};
      const payload = typeof session === "string" ? context.sealer.open(session) : undefined;
      if (payload?.t !== "gateway" && payload?.t !== "sse") return reply.code(404).send();
      if (!isRequestId(requestId)) return reply.code(400).send();
      const found = context.inFlight.cancel(payload.n, requestId, reason ?? "cancelled by the client");
      if (found) context.logger.info({ peerForwarded: true }, "request cancelled by the client");
      return reply.code(found ? 202 : 404).send();
    },
  );

  internalSseRoute(app, context, sse);
}
