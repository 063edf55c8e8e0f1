/**
 * The server side of MCP's Streamable HTTP transport as the router and the mcp-server write it:
 * the checks every `/mcp` request gets (JSON-RPC shape with the SDK's schema, `Accept`,
 * `MCP-Protocol-Version`), the answer to one POST, and long-lived SSE streams.
 *
 * Why not the SDK's `StreamableHTTPServerTransport`: it converts every request and response
 * between Node and web streams (through `@hono/node-server`), re-validates each message, and
 * keeps one transport object with its stream maps per session. That per-request cost is most
 * of what a quick tool call costs (the SDK's own stateless example runs at about 1/20 of a
 * plain Node server), and the router must not keep per-session state at all. Messages are
 * still parsed with the SDK's `JSONRPCMessageSchema` and tools still run on the SDK's
 * `McpServer`; what is left here is the HTTP framing: a JSON body or the two-line SSE event.
 */
import type { ServerResponse } from "node:http";
import type { FastifyReply, FastifyRequest } from "fastify";
import type {
  JSONRPCErrorResponse,
  JSONRPCMessage,
  JSONRPCNotification,
  JSONRPCRequest,
  JSONRPCResultResponse,
  RequestId,
} from "@modelcontextprotocol/sdk/types.js";
import {
  JSONRPCErrorResponseSchema,
  JSONRPCMessageSchema,
  JSONRPCNotificationSchema,
  JSONRPCRequestSchema,
  JSONRPCResultResponseSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
} from "@modelcontextprotocol/sdk/types.js";
import { JSONRPC_ERROR, sendJsonRpcError } from "./request-guard";

/** The session-id header of Streamable HTTP. */
export const SESSION_HEADER = "mcp-session-id";
/** The protocol-version header of Streamable HTTP. */
export const PROTOCOL_HEADER = "mcp-protocol-version";
/** MCP's "session not found" code, as the SDK uses it. */
export const SESSION_NOT_FOUND = -32001;
/** Most messages in one batch. */
export const MAX_BATCH = 100;
/** What a client must accept on `POST /mcp`. */
export const POST_ACCEPT = ["application/json", "text/event-stream"] as const;
/** What a client must accept on `GET /mcp`. */
export const STREAM_ACCEPT = ["text/event-stream"] as const;

/**
 * Deepest nesting of arrays and objects a message may have (a batch counts as one level). Real
 * tool arguments nest a few levels; JSON.parse takes thousands, but the recursive walks a
 * message meets later (JSON.stringify on the way to a child or an instance, String() of an id)
 * overflow the stack at a few thousand, so deeper input is refused before any of them.
 */
export const MAX_NESTING = 128;

/** Invalid Request message for input nested deeper than `MAX_NESTING`. */
const TOO_DEEP = `Invalid Request: JSON nested deeper than ${MAX_NESTING} levels`;

/** Whether `value` nests arrays and objects more than `max` levels deep (iterative: any depth). */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const pending: unknown[] = [value];
  const depths: number[] = [0];
  while (pending.length > 0) {
    const item = pending.pop();
    const depth = depths.pop() ?? 0;
    if (typeof item !== "object" || item === null) continue;
    if (depth === max) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item)) {
      if (typeof child === "object" && child !== null) {
        pending.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

/**
 * The SDK schema that validates `value` as a JSON-RPC message: the one of the kind its members
 * name (`method` with or without `id`, `result`, `error`), else the whole `JSONRPCMessageSchema`.
 * Each message schema is strict, so a value of one kind fails every other kind's, and the union
 * tries its members in order: a response was parsed as a request and as a notification first,
 * each failure costing more than the parse that then succeeds. The outcome is the union's, since
 * a value the chosen schema refuses is refused by every member of the union.
 */
export function messageSchemaFor(value: unknown): typeof JSONRPCMessageSchema | MessageKindSchema {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return JSONRPCMessageSchema;
  if ("method" in value) return "id" in value ? JSONRPCRequestSchema : JSONRPCNotificationSchema;
  if ("result" in value) return JSONRPCResultResponseSchema;
  if ("error" in value) return JSONRPCErrorResponseSchema;
  return JSONRPCMessageSchema;
}

/** The schema of one kind of JSON-RPC message. */
type MessageKindSchema =
  | typeof JSONRPCRequestSchema
  | typeof JSONRPCNotificationSchema
  | typeof JSONRPCResultResponseSchema
  | typeof JSONRPCErrorResponseSchema;

/** A body as JSON-RPC messages, or why it is not (JSON-RPC "Invalid Request"). */
export function parseMessages(
  body: unknown,
): { messages: JSONRPCMessage[]; batch: boolean } | { invalid: string } {
  const items = Array.isArray(body) ? body : [body];
  if (items.length === 0) return { invalid: "Invalid Request: empty batch" };
  if (items.length > MAX_BATCH)
    return { invalid: `Invalid Request: a batch holds at most ${MAX_BATCH} messages` };
  if (nestedDeeperThan(body, MAX_NESTING)) return { invalid: TOO_DEEP };
  const messages: JSONRPCMessage[] = [];
  for (const item of items) {
    const parsed = messageSchemaFor(item).safeParse(item);
    if (!parsed.success) return { invalid: "Invalid Request: not a JSON-RPC 2.0 message" };
    messages.push(parsed.data);
  }
  return { messages, batch: Array.isArray(body) };
}

/*
 * Kinds of a message already validated as JSON-RPC (by `parseMessages`, or by the SDK's stdio
 * framing, which parses every line with `JSONRPCMessageSchema`). The SDK's `isJSONRPCRequest`
 * and siblings run the whole zod schema again on every call, several times per message on a hot
 * path; a validated message is told apart by its members alone.
 */

/** Whether a validated message is a request. */
export function isRequest(message: JSONRPCMessage): message is JSONRPCRequest {
  return "method" in message && "id" in message;
}

/** Whether a validated message is a notification. */
export function isNotification(message: JSONRPCMessage): message is JSONRPCNotification {
  return "method" in message && !("id" in message);
}

/** Whether a validated message is a successful response. */
export function isResult(message: JSONRPCMessage): message is JSONRPCResultResponse {
  return "result" in message;
}

/** Whether a validated message is an error response. */
export function isError(message: JSONRPCMessage): message is JSONRPCErrorResponse {
  return "error" in message;
}

/** Whether a validated message is a response of either kind. */
export function isResponse(message: JSONRPCMessage): message is JSONRPCResultResponse | JSONRPCErrorResponse {
  return "result" in message || "error" in message;
}

/** Whether `value` can name a JSON-RPC request: a string or a number, nothing else. */
export function isRequestId(value: unknown): value is RequestId {
  return typeof value === "string" || typeof value === "number";
}

/**
 * A message from a backend (a bridged child, an instance) as it may be passed on to a client:
 * itself, or, when nested deeper than `MAX_NESTING` (writing it out again would overflow the
 * stack), an internal error for its call if it is a response with an id, else nothing (dropped).
 * `source` names the backend in the error: "The instance".
 */
export function passableFromBackend(message: JSONRPCMessage, source: string): JSONRPCMessage | undefined {
  if (!nestedDeeperThan(message, MAX_NESTING)) return message;
  if (!isResponse(message) || message.id === undefined) return undefined;
  return {
    jsonrpc: "2.0",
    id: message.id,
    error: {
      code: JSONRPC_ERROR.internalError,
      message: `${source}'s answer is nested deeper than ${MAX_NESTING} levels and cannot be sent`,
    },
  };
}

/**
 * A JSON-RPC request id as a map key that keeps `1` and `"1"` apart (they name different
 * requests).
 */
export function requestIdKey(id: RequestId): string {
  return `${typeof id}:${String(id)}`;
}

/** Whether a validated message is an `initialize` request (its params are checked where it is answered). */
export function isInitialize(message: JSONRPCMessage): boolean {
  return isRequest(message) && message.method === "initialize";
}

/**
 * Answers 400 unless the body of a legacy SSE `POST /messages` is one JSON-RPC message, true when
 * it may go on. The SDK's SSE transport takes no batch and refuses anything else with a bare-text
 * "Invalid message: [object Object]"; this answers as `/mcp` does, with a JSON-RPC error.
 */
export function checkSseMessage(body: unknown, reply: FastifyReply): boolean {
  if (Array.isArray(body)) {
    void invalidRequest(reply, "Invalid Request: the SSE transport takes one message per POST, not a batch");
    return false;
  }
  const parsed = parseMessages(body);
  if ("messages" in parsed) return true;
  void invalidRequest(reply, parsed.invalid);
  return false;
}

/**
 * The answer to a request whose id a request of the same session still in flight holds: MCP ids
 * are unique within a session, and a cancellation naming the id could not tell the two apart.
 */
export function idInFlight(id: RequestId): JSONRPCErrorResponse {
  return {
    jsonrpc: "2.0",
    id,
    error: {
      code: JSONRPC_ERROR.invalidRequest,
      message: `Invalid Request: request id ${JSON.stringify(id)} is already in flight in this session`,
    },
  };
}

/** Answers 400 Invalid Request. */
export function invalidRequest(reply: FastifyReply, message: string): FastifyReply {
  return sendJsonRpcError(reply, 400, JSONRPC_ERROR.invalidRequest, message);
}

/** Answers 404 "Session not found" (an unknown or expired session id). */
export function sessionNotFound(reply: FastifyReply): FastifyReply {
  return sendJsonRpcError(reply, 404, SESSION_NOT_FOUND, "Session not found");
}

/** `Retry-After` (seconds) of the 503 of a server that holds its most sessions or streams. */
export const FULL_RETRY_AFTER_S = 30;

/**
 * Answers 503 with `Retry-After` (by default `FULL_RETRY_AFTER_S`) to a client this server cannot
 * serve now: one session or stream more than it holds, or a stream on a replica shutting down;
 * `what` says why (`this server holds its most sessions (10000)`).
 */
export function refuseUnavailable(
  reply: FastifyReply,
  what: string,
  retryAfterS: number = FULL_RETRY_AFTER_S,
): FastifyReply {
  void reply.header("retry-after", String(retryAfterS));
  return sendJsonRpcError(reply, 503, JSONRPC_ERROR.refused, `Service Unavailable: ${what}; try again later`);
}

/** The request's `Mcp-Session-Id`, or undefined once 400 has been answered for its absence. */
export function sessionIdOf(request: FastifyRequest, reply: FastifyReply): string | undefined {
  const id = request.headers[SESSION_HEADER];
  if (typeof id === "string" && id !== "") return id;
  void sendJsonRpcError(reply, 400, JSONRPC_ERROR.refused, "Bad Request: Mcp-Session-Id header is required");
  return undefined;
}

/** Answers 405 to `GET /mcp` without a session: there is no stream to offer before `initialize`. */
export function noStreamWithoutSession(reply: FastifyReply): FastifyReply {
  void reply.header("allow", "POST, GET, DELETE");
  return sendJsonRpcError(
    reply,
    405,
    JSONRPC_ERROR.refused,
    "Method Not Allowed: open a session with POST first",
  );
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
    // Shown back to the client, so cut: a header may be kilobytes long.
    `Bad Request: Unsupported protocol version: ${String(version).slice(0, 40)} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(", ")})`,
  );
  return false;
}

/**
 * Response headers of every SSE stream. No `Connection`: Node keeps the connection alive by
 * itself, and a `Connection: close` set earlier (a draining router) must stand.
 */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache, no-transform",
  "x-accel-buffering": "no",
};

/** A JSON-RPC message as one SSE event. */
export function sseEvent(message: JSONRPCMessage): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}

/** An SSE comment: keeps idle connections open through balancers. */
export const SSE_KEEP_ALIVE = ": keepalive\n\n";

/**
 * When an SSE stream's client counts as gone: more than `stalledBytes` unsent and nothing of it
 * sent for `stalledMs`, or more than `maxBytes` unsent at once. A client that stops reading (a
 * stalled proxy, a suspended laptop) would otherwise make the server keep every message, progress
 * and keep-alive for it in memory until it ran out; a slow one that keeps taking data stays
 * (`maxBytes` bounds what it can make the server hold). A stall time during which this process
 * itself was held up (its timer ran late) does not count.
 */
export const SSE_BACKLOG = { stalledBytes: 1024 * 1024, stalledMs: 30_000, maxBytes: 64 * 1024 * 1024 };

/** The backlog check of each stream, installed on its first write. */
const backlogChecks = new WeakMap<ServerResponse, () => void>();

/**
 * Bytes of `res` the connection has sent so far: what was handed to the socket less what it
 * still holds. Writes made meanwhile add to both, so this grows only as the client takes data
 * (the backlog alone would grow with every write to a client that is reading all along).
 */
function sent(res: ServerResponse): number {
  return (res.socket?.bytesWritten ?? 0) - res.writableLength;
}

/** Ends `res` (destroys its connection) once its client has stopped reading (`SSE_BACKLOG`). */
export function checkBacklog(res: ServerResponse, limits = SSE_BACKLOG): void {
  let check = backlogChecks.get(res);
  if (check === undefined) {
    let timer: NodeJS.Timeout | undefined;
    /** `sent()` when the timer was set: the client made progress if more has been sent since. */
    let sentAtArm = 0;
    /** When the timer was set (ms since the epoch). */
    let armedTime = 0;
    const arm = () => {
      sentAtArm = sent(res);
      armedTime = Date.now();
      timer = setTimeout(() => {
        // Judged after this turn's I/O (the timer runs before it), and not at all when the timer
        // ran late: then this process was held up (a busy machine), not the client, and what the
        // client took meanwhile is not counted yet. The next stall time decides.
        setImmediate(() => {
          timer = undefined;
          if (res.destroyed || res.writableLength <= limits.stalledBytes) return;
          const late = Date.now() - armedTime > limits.stalledMs * 1.5;
          if (sent(res) <= sentAtArm && !late) res.destroy();
          else arm();
        });
      }, limits.stalledMs);
      timer.unref();
    };
    res.once("close", () => clearTimeout(timer));
    check = () => {
      if (res.destroyed) return;
      if (res.writableLength > limits.maxBytes) return void res.destroy();
      if (res.writableLength > limits.stalledBytes && timer === undefined) arm();
    };
    backlogChecks.set(res, check);
  }
  check();
}

/**
 * Sends `message` through a transport that writes on `res` whatever its client is reading (the
 * SDK's legacy `SSEServerTransport`), then checks the stream's backlog as `writeSse` does.
 */
export function sendOnSse(
  transport: { send(message: JSONRPCMessage): Promise<void> },
  res: ServerResponse,
  message: JSONRPCMessage,
): Promise<void> {
  return transport.send(message).finally(() => checkBacklog(res));
}

/** Writes `text` on an SSE stream that is still open, ending it if its client stopped reading. */
export function writeSse(res: ServerResponse, text: string): void {
  if (res.writableEnded || res.destroyed) return;
  res.write(text);
  checkBacklog(res);
}

/** Writes an SSE keep-alive comment on `res` every `intervalMs` until it closes. */
export function keepSseAlive(res: ServerResponse, intervalMs: number): void {
  const timer = setInterval(() => writeSse(res, SSE_KEEP_ALIVE), intervalMs);
  timer.unref();
  res.once("close", () => clearInterval(timer));
}

/**
 * Starts a long-lived SSE stream on `res` (a standalone `GET /mcp` stream) with keep-alive
 * comments; the headers go out at once, since clients wait for them before treating the stream
 * as open.
 */
export function openSseStream(
  res: ServerResponse,
  options: { headers?: Readonly<Record<string, string>>; keepAliveMs: number },
): void {
  res.writeHead(200, { ...SSE_HEADERS, ...options.headers });
  res.flushHeaders();
  keepSseAlive(res, options.keepAliveMs);
}

/**
 * How a POST is answered:
 * - `json`: one JSON body once every request is answered; notifications are dropped (for
 *   requests answered at once, which send none);
 * - `auto`: the same JSON body when the answers come before anything else, otherwise an SSE
 *   stream that starts with the first notification (progress) or, for a slow call, the first
 *   keep-alive comment, and carries the answers when they come. Both are what the spec lets a
 *   server answer, and SDK clients read either; a quick tool call so costs one small write.
 */
export type PostResponseMode = "json" | "auto";

/** Options of `PostResponse`. */
export interface PostResponseOptions {
  readonly mode: PostResponseMode;
  /** How many responses complete the answer. */
  readonly expected: number;
  /**
   * The POST's body was a batch (a JSON array): a JSON answer is an array too, however many
   * responses it holds (JSON-RPC 2.0, "Batch"); otherwise it is the one response.
   */
  readonly batch: boolean;
  /** Echoed as `Mcp-Session-Id`. */
  readonly sessionId?: string;
  /** Interval of keep-alive comments on a stream (and, in `auto`, when a silent call starts one). */
  readonly keepAliveMs: number;
  /** Close the connection after the answer (the server is draining). */
  readonly closeConnection?: boolean;
  /** When a JSON answer's client counts as gone (its stall rule); `SSE_BACKLOG` by default. */
  readonly backlog?: typeof SSE_BACKLOG;
}

/** Collects the responses to one POST and writes them as they are ready. */
export class PostResponse {
  private readonly bodies: JSONRPCMessage[] = [];
  private answered = 0;
  private keepAlive: NodeJS.Timeout | undefined;
  private streaming = false;
  private done = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly options: PostResponseOptions,
  ) {
    if (options.mode === "json") return;
    this.keepAlive = setInterval(() => {
      this.startStream();
      this.write(SSE_KEEP_ALIVE);
    }, options.keepAliveMs);
    this.keepAlive.unref();
    res.once("close", () => this.stop());
  }

  /** Whether the client still waits on this POST's connection. */
  get clientWaiting(): boolean {
    return !this.done && !this.res.destroyed;
  }

  /** Sends a notification about a request of this POST (switching `auto` to a stream). */
  notify(message: JSONRPCMessage): void {
    if (this.done || this.options.mode === "json") return;
    this.startStream();
    this.write(sseEvent(message));
  }

  /**
   * Adds the response at `index` (request order), or records that the request gets none
   * (`undefined`: it was cancelled); the last one completes the answer.
   */
  respond(index: number, message: JSONRPCMessage | undefined): void {
    if (this.done) return;
    this.answered++;
    if (message !== undefined) {
      if (this.streaming) this.write(sseEvent(message));
      else this.bodies[index] = message;
    }
    if (this.answered < this.options.expected) return;
    this.stop();
    if (this.streaming) {
      this.res.end();
      return;
    }
    if (this.res.writableEnded || this.res.destroyed) return;
    const bodies = this.bodies.filter((body) => body !== undefined);
    if (bodies.length === 0) {
      this.res.writeHead(202, this.headers({})).end();
      return;
    }
    const body = JSON.stringify(this.options.batch ? bodies : bodies[0]);
    this.res
      .writeHead(
        200,
        this.headers({
          "content-type": "application/json",
          "content-length": String(Buffer.byteLength(body)),
        }),
      )
      .end(body);
    // A client that stops reading a large answer is let go as a stream's is (its stall rule;
    // the answer itself may be larger than a stream's cap): the server would otherwise hold the
    // answer for as long as the connection stays open.
    checkBacklog(this.res, { ...(this.options.backlog ?? SSE_BACKLOG), maxBytes: Number.POSITIVE_INFINITY });
  }

  /** Switches to an SSE stream, writing what was collected so far as its first events. */
  private startStream(): void {
    if (this.streaming || this.res.headersSent) return;
    this.streaming = true;
    this.res.writeHead(200, this.headers(SSE_HEADERS));
    for (const body of this.bodies) if (body !== undefined) this.write(sseEvent(body));
    this.bodies.length = 0;
  }

  private headers(base: Readonly<Record<string, string>>): Record<string, string> {
    const headers: Record<string, string> = { ...base };
    if (this.options.sessionId !== undefined) headers[SESSION_HEADER] = this.options.sessionId;
    if (this.options.closeConnection === true) headers.connection = "close";
    return headers;
  }

  private write(text: string): void {
    writeSse(this.res, text);
  }

  private stop(): void {
    this.done = true;
    clearInterval(this.keepAlive);
  }
}
