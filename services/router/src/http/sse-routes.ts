/**
 * `/sse` + `/messages`: the merged catalog over the legacy HTTP+SSE transport, on any number of
 * replicas behind a round-robin balancer.
 *
 * The stream (`GET /sse`) lives on the replica that received it, which runs the session with the
 * SDK's `SSEServerTransport`. The endpoint it announces is `/messages?s=<sealed>&sessionId=<id>`,
 * where the sealed part names that replica. A `POST /messages` reaching another replica is
 * forwarded to the owner over the internal endpoint (`Peers`), whose answer (202, or the SDK's
 * 400) is relayed. When the owner is gone, so is the stream: 404, and the client opens a new
 * session, which is the one case where an SSE client must re-initialize.
 */
import type { ServerResponse } from "node:http";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { SSEServerTransport } from "@modelcontextprotocol/sdk/server/sse.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import {
  checkSseMessage,
  JSONRPC_ERROR,
  errorText,
  idInFlight,
  isInitialize,
  isNotification,
  isRequest,
  keepSseAlive,
  rawBodyOf,
  refuseUnavailable,
  sendJsonRpcError,
  sendOnSse,
  sessionNotFound,
  singleQueryValue,
  takeOver,
} from "@mcp-platform/shared";
import { errorObject } from "../mcp/gateway-handler";
import { cancelledByClient } from "../mcp/in-flight";
import type { RouterContext } from "./context";
import { cancelRequest } from "./gateway-routes";
import { INTERNAL_PATHS, PeerUnreachableError } from "./peers";

/** The path clients POST legacy SSE messages to. */
export const MESSAGES_PATH = "/messages";

interface SseEntry {
  readonly token: string;
  readonly transport: SSEServerTransport;
  readonly res: ServerResponse;
}

/** `?s=<sealed stream>&sessionId=<SDK session id>`; either may arrive repeated (an array). */
type MessagesQuery = { Querystring: { s?: unknown; sessionId?: unknown } };

/** Asked when `s` or `sessionId` is missing, empty or repeated. */
const MESSAGES_QUERY_REQUIRED = "Bad Request: one s and one sessionId query parameter are required";

/** Writes `message` on a session's stream (a client that stopped reading is dropped). */
function sendOn(entry: SseEntry, message: JSONRPCMessage): void {
  sendOnSse(entry.transport, entry.res, message).catch(() => undefined);
}

/** The legacy SSE sessions whose stream this replica holds. */
export class SseSessions {
  private readonly entries = new Map<string, SseEntry>();

  constructor(private readonly context: RouterContext) {}

  /** Streams open. */
  get size(): number {
    return this.entries.size;
  }

  /** Opens a session on `res` (a hijacked `GET /sse`). */
  async open(res: ServerResponse): Promise<void> {
    const { context } = this;
    const { token, payload } = context.sealer.seal({ t: "sse", o: context.peers.selfUrl });
    const nonce = payload.n;
    const transport = new SSEServerTransport(`${MESSAGES_PATH}?s=${encodeURIComponent(token)}`, res);
    const entry: SseEntry = { token, transport, res };
    transport.onmessage = (message) => this.onMessage(nonce, entry, message);
    transport.onerror = (error) => context.logger.debug({ err: errorText(error) }, "sse transport error");
    await transport.start();
    this.entries.set(nonce, entry);
    context.metrics.sessions.inc({ endpoint: "sse" });
    context.metrics.streams.inc({ transport: "sse" });
    keepSseAlive(res, context.keepAliveMs);
    res.once("close", () => {
      if (this.entries.delete(nonce)) context.metrics.streams.dec({ transport: "sse" });
      // The session's answers can only go on this stream: its calls still running are cancelled.
      context.inFlight.cancelSession(nonce, "the client's SSE stream closed");
    });
  }

  /** Hands a POSTed body to the session's transport (this replica must own the stream). */
  async post(
    request: FastifyRequest<MessagesQuery>,
    reply: FastifyReply,
    nonce: string,
  ): Promise<FastifyReply> {
    const entry = this.entries.get(nonce);
    if (entry === undefined || entry.transport.sessionId !== singleQueryValue(request.query, "sessionId")) {
      return sessionNotFound(reply);
    }
    await entry.transport.handlePostMessage(request.raw, takeOver(reply), request.body);
    return reply;
  }

  /** Writes `message` on every stream (list_changed). */
  broadcast(message: JSONRPCMessage): void {
    for (const entry of this.entries.values()) sendOn(entry, message);
  }

  /** Ends every stream (shutdown). */
  closeAll(): void {
    for (const entry of this.entries.values()) void entry.transport.close();
  }

  private onMessage(nonce: string, entry: SseEntry, message: JSONRPCMessage): void {
    const { context } = this;
    const send = (reply: JSONRPCMessage) => sendOn(entry, reply);
    if (isNotification(message)) {
      if (message.method === "notifications/cancelled")
        cancelRequest(context, entry.token, nonce, message.params);
      return;
    }
    if (!isRequest(message)) return;
    if (isInitialize(message)) {
      try {
        send({
          jsonrpc: "2.0",
          id: message.id,
          result: context.handler.initialize(message),
        });
      } catch (error) {
        send({ jsonrpc: "2.0", id: message.id, error: errorObject(error) });
      }
      return;
    }
    const running = context.inFlight.begin(nonce, message.id);
    if (running === undefined) return send(idInFlight(message.id));
    void context.handler.handle(message, { signal: running.signal, notify: send }).then((response) => {
      running.end();
      if (!cancelledByClient(running.signal)) send(response);
    });
  }
}

/** Registers `/sse` and `/messages`. */
export function sseRoutes(app: FastifyInstance, context: RouterContext, sessions: SseSessions): void {
  app.get("/sse", async (request, reply) => {
    // A legacy SSE session lives and dies with its stream on this replica: one opened while the
    // replica drains would end within seconds. The client is sent elsewhere (the front door
    // retries a GET refused with 503 on another replica).
    if (context.drain.draining) {
      request.log.info("a new legacy SSE stream refused: this replica is shutting down");
      return refuseUnavailable(reply, "this router replica is shutting down", 1);
    }
    if (!context.streamLimit.admit(reply, "sse")) return reply;
    await sessions.open(takeOver(reply));
    return reply;
  });

  app.post<MessagesQuery>(MESSAGES_PATH, async (request, reply) => {
    const s = singleQueryValue(request.query, "s");
    const sessionId = singleQueryValue(request.query, "sessionId");
    if (s === undefined || sessionId === undefined) {
      return sendJsonRpcError(reply, 400, JSONRPC_ERROR.refused, MESSAGES_QUERY_REQUIRED);
    }
    const session = context.sealer.open(s);
    if (session?.t !== "sse") return sessionNotFound(reply);
    if (!checkSseMessage(request.body, reply)) return reply;
    if (session.o === context.peers.selfUrl) return sessions.post(request, reply, session.n);
    // Only to a replica discovery knows: an owner gone from it is gone (its stream with it), and
    // its address may since belong to something else, which must not get a peer token.
    if (!context.peers.others().includes(session.o)) return sessionNotFound(reply);
    return forwardToOwner(context, session.o, { s, sessionId }, request, reply);
  });
}

/** The internal endpoint an owner receives forwarded POSTs on. */
export function internalSseRoute(app: FastifyInstance, context: RouterContext, sessions: SseSessions): void {
  app.post<MessagesQuery>(INTERNAL_PATHS.sseMessage, async (request, reply) => {
    const session = context.sealer.open(singleQueryValue(request.query, "s") ?? "");
    if (session?.t !== "sse" || session.o !== context.peers.selfUrl) {
      return sessionNotFound(reply);
    }
    return sessions.post(request, reply, session.n);
  });
}

/** Forwards a legacy SSE POST to the replica holding the stream and relays its answer. */
async function forwardToOwner(
  context: RouterContext,
  owner: string,
  ids: { readonly s: string; readonly sessionId: string },
  request: FastifyRequest<MessagesQuery>,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const query = new URLSearchParams(ids);
  try {
    const answer = await context.peers.post(
      `${owner}${INTERNAL_PATHS.sseMessage}?${query.toString()}`,
      rawBodyOf(request),
    );
    context.metrics.peerForwards.inc({
      kind: "sse-message",
      outcome: answer.status === 202 ? "delivered" : "refused",
    });
    const type = answer.headers["content-type"];
    if (typeof type === "string") void reply.type(type);
    return reply.code(answer.status).send(answer.body);
  } catch (error) {
    if (error instanceof PeerUnreachableError) {
      context.metrics.peerForwards.inc({ kind: "sse-message", outcome: "owner_gone" });
      return sessionNotFound(reply);
    }
    context.metrics.peerForwards.inc({ kind: "sse-message", outcome: "failed" });
    context.logger.warn({ err: errorText(error) }, "cannot forward an SSE message to its stream's replica");
    return sendJsonRpcError(
      reply,
      502,
      JSONRPC_ERROR.internalError,
      "Bad Gateway: the session's stream is unreachable",
    );
  }
}
