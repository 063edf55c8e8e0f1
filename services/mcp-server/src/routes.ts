/**
 * The MCP HTTP endpoints: Streamable HTTP on `/mcp` and the legacy SSE pair on `/sse` +
 * `/messages`. Requests are checked (Host/Origin, body, JSON-RPC shape, `Accept`, protocol
 * version, session id) before any message reaches a session.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { InitializeRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import {
  checkAccept,
  checkSseMessage,
  checkProtocolVersion,
  invalidRequest,
  isInitialize,
  JSONRPC_ERROR,
  mcpBodyRules,
  mcpCors,
  noStreamWithoutSession,
  parseMessages,
  POST_ACCEPT,
  refuseUnavailable,
  RequestGuard,
  SESSION_HEADER,
  sendJsonRpcError,
  sessionIdOf,
  sessionNotFound,
  singleQueryValue,
  STREAM_ACCEPT,
  takeOver,
} from "@mcp-platform/shared";
import type { Sessions } from "./sessions";
import type { StreamableSession } from "./streamable-session";

/** Route settings. */
export interface McpRouteOptions {
  readonly sessions: Sessions;
  readonly allowedOrigins: readonly string[];
  readonly allowedHosts: readonly string[];
  readonly maxBodyBytes: number;
}

/** Registers `/mcp`, `/sse` and `/messages` in an encapsulated context with the guard and errors. */
export async function mcpRoutes(app: FastifyInstance, options: McpRouteOptions): Promise<void> {
  const { sessions } = options;
  const guard = new RequestGuard({
    allowedOrigins: options.allowedOrigins,
    allowedHosts: options.allowedHosts,
  });
  await mcpCors(app, guard);
  app.addHook("onRequest", guard.hook());
  mcpBodyRules(app, options.maxBodyBytes);

  /** The session named by `Mcp-Session-Id`, or undefined once 400/404 has been answered. */
  const sessionOf = (request: FastifyRequest, reply: FastifyReply): StreamableSession | undefined => {
    const id = sessionIdOf(request, reply);
    if (id === undefined) return undefined;
    const session = sessions.streamable(id);
    if (session === undefined) void sessionNotFound(reply);
    return session;
  };

  /** Answers 503 while the server holds its most sessions; true when one may open. */
  const admitted = (reply: FastifyReply): boolean => {
    if (sessions.admit()) return true;
    void refuseUnavailable(reply, `this server holds its most sessions (${sessions.maxSessions})`);
    return false;
  };

  app.post("/mcp", async (request, reply) => {
    const parsed = parseMessages(request.body);
    if ("invalid" in parsed) return invalidRequest(reply, parsed.invalid);
    const { messages } = parsed;
    let session: StreamableSession | undefined;
    if (messages.some(isInitialize)) {
      if (messages.length > 1) return invalidRequest(reply, "Invalid Request: initialize must be sent alone");
      if (!InitializeRequestSchema.safeParse(messages[0]).success) {
        return sendJsonRpcError(
          reply,
          400,
          JSONRPC_ERROR.invalidParams,
          "Invalid params: initialize needs protocolVersion, capabilities and clientInfo",
        );
      }
      if (request.headers[SESSION_HEADER] !== undefined) {
        return invalidRequest(
          reply,
          "Invalid Request: initialize opens a new session; send it without Mcp-Session-Id",
        );
      }
      if (!checkAccept(request, reply, POST_ACCEPT) || !admitted(reply)) return reply;
      session = sessions.createStreamable();
    } else {
      session = sessionOf(request, reply);
      if (session === undefined || !checkProtocolVersion(request, reply)) return reply;
      if (!checkAccept(request, reply, POST_ACCEPT)) return reply;
    }
    session.post(messages, parsed.batch, takeOver(reply));
    return reply;
  });

  app.get("/mcp", async (request, reply) => {
    // No session, so no stream to offer here (MCP spec: 405); clients POST initialize first.
    if (request.headers[SESSION_HEADER] === undefined) return noStreamWithoutSession(reply);
    const session = sessionOf(request, reply);
    if (session === undefined || !checkProtocolVersion(request, reply)) return reply;
    if (!checkAccept(request, reply, STREAM_ACCEPT)) return reply;
    if (session.hasStream) {
      return sendJsonRpcError(
        reply,
        409,
        JSONRPC_ERROR.refused,
        "Conflict: only one standalone SSE stream is allowed per session",
      );
    }
    session.openStream(takeOver(reply));
    return reply;
  });

  app.delete("/mcp", async (request, reply) => {
    const session = sessionOf(request, reply);
    if (session === undefined || !checkProtocolVersion(request, reply)) return reply;
    sessions.closeStreamable(session.id, "deleted by the client");
    return reply.code(200).send();
  });

  app.get("/sse", async (_request, reply) => {
    if (!admitted(reply)) return reply;
    await sessions.createSse(takeOver(reply), "/messages");
    return reply;
  });

  app.post("/messages", async (request, reply) => {
    const id = singleQueryValue(request.query, "sessionId");
    if (id === undefined) {
      return sendJsonRpcError(
        reply,
        400,
        JSONRPC_ERROR.refused,
        "Bad Request: one sessionId query parameter is required",
      );
    }
    const transport = sessions.sse(id);
    if (transport === undefined) return sessionNotFound(reply);
    if (!checkSseMessage(request.body, reply)) return reply;
    await transport.handlePostMessage(request.raw, takeOver(reply), request.body);
    return reply;
  });
}
