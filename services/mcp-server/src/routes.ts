/**
 * The MCP HTTP endpoints: Streamable HTTP on `/mcp` and the legacy SSE pair on `/sse` +
 * `/messages`. Requests are checked (Host/Origin, session id, body) before any reaches the SDK
 * transport, which then owns the raw response.
 */
import type { ServerResponse } from "node:http";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { JSONRPC_ERROR, mcpErrorHandler, RequestGuard, sendJsonRpcError } from "@mcp-platform/shared";
import type { Sessions } from "./sessions";

/** Route settings. */
export interface McpRouteOptions {
  readonly sessions: Sessions;
  readonly allowedOrigins: readonly string[];
  readonly allowedHosts: readonly string[];
  readonly maxBodyBytes: number;
}

/** The session-id header of Streamable HTTP. */
const SESSION_HEADER = "mcp-session-id";

const isInitialize = (body: unknown) =>
  Array.isArray(body) ? body.some((m) => isInitializeRequest(m)) : isInitializeRequest(body);

/**
 * Batches what a response writes in its first event-loop turn into one socket write: the SDK
 * flushes SSE headers, the answer and the stream's end separately, and a quick call is answered
 * within that turn. Later writes (progress of a long call) go out as they come.
 */
function coalesceFirstWrites(res: ServerResponse): void {
  const socket = res.socket;
  if (socket === null || socket.writableCorked > 0) return;
  socket.cork();
  setImmediate(() => socket.uncork());
}

/** Registers `/mcp`, `/sse` and `/messages` in an encapsulated context with the guard and errors. */
export async function mcpRoutes(app: FastifyInstance, options: McpRouteOptions): Promise<void> {
  const { sessions } = options;
  const guard = new RequestGuard({
    allowedOrigins: options.allowedOrigins,
    allowedHosts: options.allowedHosts,
  });
  app.addHook("onRequest", guard.hook());
  app.setErrorHandler(mcpErrorHandler(options.maxBodyBytes));

  const sessionOf = (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers[SESSION_HEADER];
    if (typeof header !== "string" || header === "") {
      void sendJsonRpcError(
        reply,
        400,
        JSONRPC_ERROR.refused,
        "Bad Request: Mcp-Session-Id header is required",
      );
      return undefined;
    }
    const transport = sessions.streamable(header);
    if (transport === undefined) void sendJsonRpcError(reply, 404, -32001, "Session not found");
    return transport;
  };

  app.post("/mcp", async (request, reply) => {
    if (request.headers[SESSION_HEADER] === undefined) {
      if (!isInitialize(request.body)) {
        return sendJsonRpcError(
          reply,
          400,
          JSONRPC_ERROR.refused,
          "Bad Request: Mcp-Session-Id header is required",
        );
      }
      const transport = await sessions.createStreamable();
      reply.hijack();
      coalesceFirstWrites(reply.raw);
      await transport.handleRequest(request.raw, reply.raw, request.body);
      return reply;
    }
    const transport = sessionOf(request, reply);
    if (transport === undefined) return reply;
    reply.hijack();
    coalesceFirstWrites(reply.raw);
    await transport.handleRequest(request.raw, reply.raw, request.body);
    return reply;
  });

  const streamOrDelete = async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.method === "GET" && request.headers[SESSION_HEADER] === undefined) {
      // No session, so no stream to offer here (MCP spec: answer 405); clients POST initialize.
      void reply.header("allow", "POST, GET, DELETE");
      return sendJsonRpcError(
        reply,
        405,
        JSONRPC_ERROR.refused,
        "Method Not Allowed: open a session with POST first",
      );
    }
    const transport = sessionOf(request, reply);
    if (transport === undefined) return reply;
    reply.hijack();
    await transport.handleRequest(request.raw, reply.raw);
    return reply;
  };
  app.get("/mcp", streamOrDelete);
  app.delete("/mcp", streamOrDelete);

  app.get("/sse", async (_request, reply) => {
    reply.hijack();
    await sessions.createSse(reply.raw, "/messages");
    return reply;
  });

  app.post<{ Querystring: { sessionId?: string } }>("/messages", async (request, reply) => {
    const id = request.query.sessionId;
    if (id === undefined || id === "") {
      return sendJsonRpcError(
        reply,
        400,
        JSONRPC_ERROR.refused,
        "Bad Request: sessionId query parameter is required",
      );
    }
    const transport = sessions.sse(id);
    if (transport === undefined) return sendJsonRpcError(reply, 404, -32001, "Session not found");
    reply.hijack();
    await transport.handlePostMessage(request.raw, reply.raw, request.body);
    return reply;
  });
}
