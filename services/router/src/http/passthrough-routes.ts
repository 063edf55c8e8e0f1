/**
 * `/services/<name>/mcp`: one service, transparently (DESIGN "router": "a client sees the backend
 * exactly as it would directly"). Requests and responses are relayed byte for byte, streams
 * included, so every MCP feature of the service works unchanged: progress, cancellation,
 * sampling and elicitation requests, subscriptions, logging.
 *
 * The upstream session lives on one mcp-server instance. `initialize` goes to a healthy instance
 * (least outstanding; retried on another only when it never reached one), and the client gets a
 * sealed session id naming that instance and its upstream session, so any router replica
 * forwards the next request there. When that instance is gone the session is too: 404, and the
 * client initializes again, exactly as it would talking to the instance directly.
 *
 * Only an allow-list of request headers is forwarded: never `Authorization`, cookies, `Origin`
 * or `Host`.
 */
import { Agent, request as httpRequest } from "node:http";
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from "node:http";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  invalidRequest,
  isInitialize,
  JSONRPC_ERROR,
  noStreamWithoutSession,
  parseMessages,
  rawBodyOf,
  SERVICE_ID_PATTERN,
  SESSION_HEADER,
  errorText,
  sendJsonRpcError,
  sessionNotFound,
  takeOver,
} from "@mcp-platform/shared";
import type { Instance } from "../upstream/upstreams";
import { MAX_ATTEMPTS } from "../upstream/upstreams";
import { failedBeforeSending } from "../upstream/upstream-transport";
import type { RouterContext } from "./context";
import { sessionOf } from "./context";

/** Request headers relayed upstream (lower case). Everything else stays at the router. */
export const FORWARDED_REQUEST_HEADERS: readonly string[] = [
  "accept",
  "content-type",
  "last-event-id",
  "mcp-protocol-version",
  "user-agent",
];

/** Response headers never relayed back (hop-by-hop, or rewritten). */
const DROPPED_RESPONSE_HEADERS: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "date",
  SESSION_HEADER,
]);

/** The upstream request headers for a client request: the allow-list plus the upstream session. */
export function upstreamHeaders(
  incoming: IncomingHttpHeaders,
  upstreamSession: string | undefined,
): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = incoming[name];
    if (value !== undefined) headers[name] = value;
  }
  if (upstreamSession !== undefined) headers[SESSION_HEADER] = upstreamSession;
  return headers;
}

/**
 * The passthrough responses this replica is relaying (a GET stream, a call answered as a
 * stream), so that shutdown can end them: an open relay would hold the server's close until
 * its deadline.
 */
export class RelayedStreams {
  private readonly open = new Set<() => void>();
  private gets = 0;

  /** Relayed `GET` streams open now (they count against `ROUTER_MAX_STREAMS`). */
  get getStreams(): number {
    return this.gets;
  }

  /** Counts a relayed `GET` stream from its request until its relay ends; returns the uncount. */
  countGet(): () => void {
    this.gets++;
    let counted = true;
    return () => {
      if (counted) this.gets--;
      counted = false;
    };
  }

  /** Registers a relay and how to end it; returns its unregistration. */
  add(end: () => void): () => void {
    this.open.add(end);
    return () => void this.open.delete(end);
  }

  /** Ends every relay: its client's response ends and its upstream request is dropped. */
  closeAll(): void {
    for (const end of [...this.open]) end();
  }
}

/** The connection never reached the instance: the request may go to another one. */
class NotSentError extends Error {}

type Params = { Params: { name: string } };

/** Registers `/services/:name/mcp`. */
export function passthroughRoutes(
  app: FastifyInstance,
  context: RouterContext,
  relays: RelayedStreams,
): void {
  // No cap on connections per instance: a relayed stream holds its connection for as long as it
  // is open, so with a cap every later request to that instance (calls too) would queue behind
  // the open streams until one ended. The streams are capped per replica instead
  // (`ROUTER_MAX_STREAMS`), the calls by the clients' connections.
  const agent = new Agent({ keepAlive: true });
  app.addHook("onClose", async () => agent.destroy());

  const handler = async (request: FastifyRequest<Params>, reply: FastifyReply): Promise<FastifyReply> => {
    const service = request.params.name;
    if (!SERVICE_ID_PATTERN.test(service) || !context.upstreams.hasService(service)) {
      return sendJsonRpcError(reply, 404, JSONRPC_ERROR.refused, `Unknown service: ${service}`);
    }
    if (request.headers[SESSION_HEADER] !== undefined) {
      const session = sessionOf(context, request, reply, "passthrough");
      if (session === undefined) return reply;
      const instance =
        session.payload.s === service ? context.upstreams.instance(service, session.payload.i) : undefined;
      if (instance === undefined) return sessionNotFound(reply);
      if (request.method === "GET" && !context.streamLimit.admit(reply, "passthrough")) return reply;
      try {
        await relay(
          { context, agent, relays },
          instance,
          session.payload.u,
          request,
          reply,
          () => session.token,
        );
      } catch (error) {
        context.upstreams.recordFailure(instance, errorText(error));
        return sessionNotFound(reply);
      }
      return reply;
    }
    if (request.method === "GET") return noStreamWithoutSession(reply);
    // Answered as the instance would: the JSON-RPC shape first, then the session. An `initialize`
    // goes on even with bad params, for the instance's own answer.
    const parsed = request.method === "POST" ? parseMessages(request.body) : undefined;
    if (parsed !== undefined && "invalid" in parsed) return invalidRequest(reply, parsed.invalid);
    if (parsed === undefined || !parsed.messages.some(isInitialize)) {
      return sendJsonRpcError(
        reply,
        400,
        JSONRPC_ERROR.refused,
        "Bad Request: Mcp-Session-Id header is required",
      );
    }
    const tried = new Set<Instance>();
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const instance = context.upstreams.pick(service, tried);
      if (instance === undefined) break;
      try {
        await relay({ context, agent, relays }, instance, undefined, request, reply, (upstreamSession) => {
          context.metrics.sessions.inc({ endpoint: "passthrough" });
          return context.sealer.seal({ t: "passthrough", s: service, i: instance.url, u: upstreamSession })
            .token;
        });
        return reply;
      } catch (error) {
        context.upstreams.recordFailure(instance, errorText(error));
        tried.add(instance);
        context.metrics.retries.inc({ service, reason: "refused" });
      }
    }
    return sendJsonRpcError(
      reply,
      503,
      JSONRPC_ERROR.internalError,
      `No instance of service "${service}" could be reached`,
    );
  };

  for (const method of ["POST", "GET", "DELETE"] as const) {
    app.route<Params>({ method, url: "/services/:name/mcp", handler });
  }
}

/**
 * Relays one request to `instance` and its response back. Rejects with `NotSentError` (before
 * anything was written to the client) when the instance could not be reached; any later failure
 * ends the client's response.
 */
function relay(
  { context, agent, relays }: { context: RouterContext; agent: Agent; relays: RelayedStreams },
  instance: Instance,
  upstreamSession: string | undefined,
  request: FastifyRequest<Params>,
  reply: FastifyReply,
  clientSession: (upstreamSession: string) => string,
): Promise<void> {
  // Byte for byte: the client's own JSON text, not the router's rewrite of it.
  const body = request.method === "POST" ? rawBodyOf(request) : undefined;
  const headers = upstreamHeaders(request.headers, upstreamSession);
  if (body !== undefined) headers["content-length"] = String(Buffer.byteLength(body));
  const counted = request.method === "POST";
  if (counted) instance.outstanding++;
  const uncountGet = request.method === "GET" ? relays.countGet() : () => undefined;
  const service = instance.service;
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    let unregister = () => undefined as void;
    const finish = (outcome: "ok" | "failed") => {
      if (settled) return;
      settled = true;
      unregister();
      uncountGet();
      if (counted) context.upstreams.release(instance);
      context.metrics.upstreamRequests.inc({ service, method: "passthrough", outcome });
    };
    const upstream = httpRequest(
      instance.url,
      { method: request.method, headers, agent },
      (res: IncomingMessage) => {
        context.upstreams.recordSuccess(instance);
        takeOver(reply);
        const out: OutgoingHttpHeaders = {};
        for (const [name, value] of Object.entries(res.headers)) {
          if (value === undefined || DROPPED_RESPONSE_HEADERS.has(name)) continue;
          // CORS is the router's to answer (for the client's origin), never the instance's.
          if (name.startsWith("access-control-")) continue;
          out[name] = value;
        }
        const upstreamId = res.headers[SESSION_HEADER];
        if (typeof upstreamId === "string" && upstreamId !== "")
          out[SESSION_HEADER] = clientSession(upstreamId);
        if (context.drain.draining) out.connection = "close";
        reply.raw.writeHead(res.statusCode ?? 502, out);
        if (typeof reply.raw.flushHeaders === "function") reply.raw.flushHeaders();
        // Ended at shutdown: the client sees its stream end and reconnects to another replica.
        if (!settled) {
          unregister = relays.add(() => {
            reply.raw.end();
            upstream.destroy();
          });
        }
        res.pipe(reply.raw);
        res.on("end", () => {
          finish("ok");
          resolve();
        });
        res.on("error", () => {
          finish("failed");
          reply.raw.destroy();
          resolve();
        });
      },
    );
    // The client went away: stop relaying (for a stream, this ends the upstream stream too).
    reply.raw.on("close", () => {
      if (!reply.raw.writableFinished) upstream.destroy();
      finish("ok");
      resolve();
    });
    upstream.on("error", (error) => {
      if (reply.sent || reply.raw.headersSent) {
        finish("failed");
        reply.raw.destroy();
        resolve();
        return;
      }
      finish("failed");
      if (failedBeforeSending(error)) reject(new NotSentError(errorText(error)));
      else {
        context.logger.warn({ service, err: errorText(error) }, "passthrough request failed");
        void sendJsonRpcError(reply, 502, JSONRPC_ERROR.internalError, "Bad Gateway: the instance failed");
        resolve();
      }
    });
    upstream.end(body);
  });
}
