/**
 * `/mcp`: the merged catalog over Streamable HTTP, served statelessly. `initialize` is answered
 * with a sealed session id carrying the negotiated protocol version and the client's
 * capabilities; every later request, on any replica, is served from that id alone:
 *
 * - `POST` answers its requests itself: JSON, or, once a forwarded call sends progress (or runs
 *   past a keep-alive interval), an SSE stream carrying it and then the answer; `notifications/cancelled` aborts the
 *   request here, or is offered to the peers when another replica runs it.
 * - `GET` opens a standalone stream for `list_changed` on whichever replica receives it.
 * - `DELETE` ends this replica's streams of the session. The id itself stays valid until it
 *   expires: there is no shared state to revoke it in (see docs/DESIGN.md).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { JSONRPCMessage, JSONRPCRequest } from "@modelcontextprotocol/sdk/types.js";
import { InitializeRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import {
  checkAccept,
  checkProtocolVersion,
  idInFlight,
  invalidRequest,
  isInitialize,
  isNotification,
  isRequest,
  isRequestId,
  noStreamWithoutSession,
  parseMessages,
  POST_ACCEPT,
  PostResponse,
  SESSION_HEADER,
  STREAM_ACCEPT,
  takeOver,
} from "@mcp-platform/shared";
import { errorObject, FORWARDED_METHODS } from "../mcp/gateway-handler";
import { cancelledByClient } from "../mcp/in-flight";
import type { GatewaySession } from "../session-token";
import { compactCapabilities, compactClientInfo } from "../session-token";
import type { RouterContext } from "./context";
import { sessionOf } from "./context";

/** Handles a client's `notifications/cancelled` for a gateway session (any transport). */
export function cancelRequest(
  context: RouterContext,
  sessionToken: string,
  nonce: string,
  params: unknown,
): void {
  const { requestId, reason } = (params ?? {}) as { requestId?: unknown; reason?: string };
  if (!isRequestId(requestId)) return;
  const why = typeof reason === "string" ? reason : "cancelled by the client";
  if (context.inFlight.cancel(nonce, requestId, why)) {
    context.logger.info({ peerForwarded: false }, "request cancelled by the client");
    return;
  }
  void context.peers.broadcastCancel({ session: sessionToken, requestId, reason: why });
}

/** Registers `/mcp`. */
export function gatewayRoutes(app: FastifyInstance, context: RouterContext): void {
  app.post("/mcp", async (request, reply) => {
    const parsed = parseMessages(request.body);
    if ("invalid" in parsed) return invalidRequest(reply, parsed.invalid);
    if (!checkAccept(request, reply, POST_ACCEPT)) return reply;
    const { messages, batch } = parsed;
    if (messages.some(isInitialize)) {
      if (messages.length > 1) return invalidRequest(reply, "Invalid Request: initialize must be sent alone");
      return initialize(context, messages[0] as JSONRPCRequest, batch, reply);
    }
    const session = sessionOf(context, request, reply, "gateway");
    if (session === undefined || !checkProtocolVersion(request, reply)) return reply;
    return answer(context, session.token, session.payload, { messages, batch }, reply);
  });

  const stream = async (request: FastifyRequest, reply: FastifyReply) => {
    // No session, so no stream to offer (MCP spec: 405); clients POST initialize first.
    if (request.headers[SESSION_HEADER] === undefined) return noStreamWithoutSession(reply);
    const session = sessionOf(context, request, reply, "gateway");
    if (session === undefined || !checkProtocolVersion(request, reply)) return reply;
    if (!checkAccept(request, reply, STREAM_ACCEPT)) return reply;
    if (!context.streamLimit.admit(reply, "streamable-http")) return reply;
    context.streams.open(session.payload.n, session.token, takeOver(reply));
    return reply;
  };
  app.get("/mcp", stream);

  app.delete("/mcp", async (request, reply) => {
    const session = sessionOf(context, request, reply, "gateway");
    if (session === undefined || !checkProtocolVersion(request, reply)) return reply;
    context.streams.closeSession(session.payload.n);
    return reply.code(200).send();
  });
}

/**
 * Answers `initialize`: negotiates, seals the session, replies with JSON (in an array when it
 * came as a batch of one).
 */
function initialize(
  context: RouterContext,
  message: JSONRPCRequest,
  batch: boolean,
  reply: FastifyReply,
): FastifyReply {
  const send = (status: number, body: JSONRPCMessage) => reply.code(status).send(batch ? [body] : body);
  let result;
  try {
    result = context.handler.initialize(message);
  } catch (error) {
    return send(200, { jsonrpc: "2.0", id: message.id, error: errorObject(error) });
  }
  const params = InitializeRequestSchema.parse(message).params;
  const { token } = context.sealer.seal({
    t: "gateway",
    pv: result.protocolVersion,
    cc: compactCapabilities(params.capabilities as Record<string, unknown>),
    ci: compactClientInfo(params.clientInfo),
  });
  context.metrics.sessions.inc({ endpoint: "gateway" });
  void reply.header(SESSION_HEADER, token);
  return send(200, { jsonrpc: "2.0", id: message.id, result });
}

/**
 * Handles the messages of one POST in an established session, in their order: a cancellation
 * after its request in one batch cancels it.
 */
function answer(
  context: RouterContext,
  token: string,
  session: GatewaySession,
  { messages, batch }: { readonly messages: readonly JSONRPCMessage[]; readonly batch: boolean },
  reply: FastifyReply,
): FastifyReply {
  const requests = messages.filter(isRequest);
  const response =
    requests.length === 0
      ? undefined
      : new PostResponse(takeOver(reply), {
          mode: requests.some((r) => FORWARDED_METHODS.has(r.method)) ? "auto" : "json",
          expected: requests.length,
          batch,
          sessionId: token,
          keepAliveMs: context.keepAliveMs,
          closeConnection: context.drain.draining,
        });
  let index = 0;
  for (const message of messages) {
    if (isRequest(message) && response !== undefined) start(context, session, message, index++, response);
    else if (isNotification(message) && message.method === "notifications/cancelled") {
      cancelRequest(context, token, session.n, message.params);
    }
    // Other notifications (initialized, roots/list_changed) and responses need no answer: the
    // merged catalog sends clients no requests.
  }
  return response === undefined ? reply.code(202).send() : reply;
}

/** Starts request `index` of a POST; its answer goes to `response`. */
function start(
  context: RouterContext,
  session: GatewaySession,
  request: JSONRPCRequest,
  index: number,
  response: PostResponse,
): void {
  const running = context.inFlight.begin(session.n, request.id);
  if (running === undefined) return response.respond(index, idInFlight(request.id));
  void context.handler
    .handle(request, { signal: running.signal, notify: (notification) => response.notify(notification) })
    .then((message) => {
      running.end();
      // A cancelled request gets no response; the answer still completes.
      response.respond(index, cancelledByClient(running.signal) ? undefined : message);
    });
}
