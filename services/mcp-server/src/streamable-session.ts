/**
 * One Streamable HTTP client session of the mcp-server: what the multiplexer sends it goes to
 * the POST that asked (its answer and its progress) or, when it concerns no request
 * (`list_changed`), to the session's standalone `GET /mcp` stream. The HTTP framing is the
 * shared kit's (`PostResponse`, `openSseStream`); see services/shared/src/streamable-http.ts
 * for why it is not the SDK's server transport.
 */
import type { ServerResponse } from "node:http";
import type { JSONRPCMessage, RequestId } from "@modelcontextprotocol/sdk/types.js";
import {
  idInFlight,
  isError,
  isRequest,
  isResponse,
  JSONRPC_ERROR,
  openSseStream,
  PostResponse,
  requestIdKey,
  SESSION_HEADER,
  sseEvent,
  writeSse,
} from "@mcp-platform/shared";
import type { ClientSession } from "./bridge/multiplexer";

/** Where the answer to one request of a session goes. */
interface Route {
  readonly response: PostResponse;
  readonly index: number;
  readonly id: RequestId;
}

/** Settings of a session. */
export interface StreamableSessionOptions {
  /** Interval of SSE keep-alive comments (and when a silent call's answer becomes a stream). */
  readonly keepAliveMs: number;
  /** Hands a client message to the multiplexer. */
  readonly deliver: (session: StreamableSession, message: JSONRPCMessage) => void;
  /** The session's `initialize` was answered with an error: it never opened. */
  readonly onInitializeFailed: (session: StreamableSession) => void;
}

/** A Streamable HTTP session: its id, its requests in flight and its standalone stream. */
export class StreamableSession implements ClientSession {
  /** Requests of this session not answered yet, by JSON-RPC id. */
  private readonly routes = new Map<string, Route>();
  private stream: ServerResponse | undefined;
  private initializeId: string | undefined;
  private closed = false;

  constructor(
    readonly id: string,
    private readonly options: StreamableSessionOptions,
  ) {}

  /** Whether a standalone `GET` stream is open. */
  get hasStream(): boolean {
    return this.stream !== undefined;
  }

  /**
   * Whether the client is using the session now: its standalone stream is open, or it waits on
   * a POST for an answer. A request whose client went away does not count, so a call a child
   * never answers cannot keep its session (and its place in the child) forever.
   */
  get inUse(): boolean {
    if (this.stream !== undefined) return true;
    for (const route of this.routes.values()) if (route.response.clientWaiting) return true;
    return false;
  }

  /**
   * Handles the messages of one POST on `res`: its requests are answered on it (JSON, or SSE
   * once a notification or a keep-alive comes first; a JSON answer to a `batch` is an array);
   * a POST of notifications gets 202.
   */
  post(messages: readonly JSONRPCMessage[], batch: boolean, res: ServerResponse): void {
    const requests = messages.filter(isRequest);
    const duplicates = new Set<JSONRPCMessage>();
    if (requests.length === 0) {
      res.writeHead(202, { [SESSION_HEADER]: this.id }).end();
    } else {
      const response = new PostResponse(res, {
        mode: "auto",
        expected: requests.length,
        batch,
        sessionId: this.id,
        keepAliveMs: this.options.keepAliveMs,
      });
      requests.forEach((request, index) => {
        const k = requestIdKey(request.id);
        if (this.routes.has(k)) {
          duplicates.add(request);
          response.respond(index, idInFlight(request.id));
          return;
        }
        if (request.method === "initialize") this.initializeId = k;
        this.routes.set(k, { response, index, id: request.id });
      });
    }
    // A request reusing an id in flight was answered above and goes no further.
    for (const message of messages) if (!duplicates.has(message)) this.options.deliver(this, message);
  }

  /** Opens the standalone stream on `res`; false when one is open already (one per session). */
  openStream(res: ServerResponse): boolean {
    if (this.stream !== undefined) return false;
    this.stream = res;
    openSseStream(res, { headers: { [SESSION_HEADER]: this.id }, keepAliveMs: this.options.keepAliveMs });
    res.once("close", () => {
      if (this.stream === res) this.stream = undefined;
    });
    return true;
  }

  /** From the multiplexer: a response, a notification about a request, or one for the session. */
  send(message: JSONRPCMessage, relatedRequestId?: RequestId): Promise<void> {
    if (isResponse(message)) {
      if (message.id === undefined) return Promise.resolve();
      const k = requestIdKey(message.id);
      const route = this.routes.get(k);
      if (route !== undefined) {
        this.routes.delete(k);
        route.response.respond(route.index, message);
      }
      if (k === this.initializeId) {
        this.initializeId = undefined;
        if (isError(message)) this.options.onInitializeFailed(this);
      }
      return Promise.resolve();
    }
    if (relatedRequestId !== undefined) {
      this.routes.get(requestIdKey(relatedRequestId))?.response.notify(message);
      return Promise.resolve();
    }
    // Without a stream the client has not asked for server messages; nothing is kept for it.
    if (this.stream !== undefined) writeSse(this.stream, sseEvent(message));
    return Promise.resolve();
  }

  /**
   * The client cancelled a request: it gets no response, so its POST completes without one (or
   * ends its stream), and the id may be used again.
   */
  cancelled(requestId: RequestId): void {
    const k = requestIdKey(requestId);
    const route = this.routes.get(k);
    if (route === undefined) return;
    this.routes.delete(k);
    route.response.respond(route.index, undefined);
  }

  /**
   * Closes the session (DELETE, expiry, shutdown): requests still unanswered get an error, so
   * no POST waits for an answer that cannot come, and the standalone stream ends.
   */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const route of this.routes.values()) {
      route.response.respond(route.index, {
        jsonrpc: "2.0",
        id: route.id,
        error: { code: JSONRPC_ERROR.internalError, message: `the session was closed (${reason})` },
      });
    }
    this.routes.clear();
    this.stream?.end();
    this.stream = undefined;
  }
}
