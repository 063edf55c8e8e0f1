/**
 * The client transport of the router's own upstream sessions: the SDK's
 * `StreamableHTTPClientTransport`, wrapped to tell the router two things the SDK keeps to itself.
 *
 * 1. Whether a failed request ever reached the instance. Only then may the router retry it on
 *    another instance (DESIGN "router": "It retries only when the request never reached a
 *    backend"). A refused or unroutable connection (`NotDeliveredError`) and an HTTP 503 (the
 *    instance is closing and refused the request unprocessed) qualify; a reset after the request
 *    was written does not, because the tool may already have run. Another 4xx is the instance
 *    refusing that request (`refusedByInstance`): an answer, not a failure of the instance.
 * 2. Whether a call's response stream ended before its response. The SDK only reports a dropped
 *    POST stream through `onerror`, without the request id, and leaves the call pending until
 *    its timeout; an instance killed mid-call would hang every call it held. Here the end of each
 *    call's stream is watched and, when no response came, a JSON-RPC error marked
 *    `UPSTREAM_LOST` is delivered for that id at once; so it is for a call answered over HTTP
 *    without its response (a 202, an empty or non-JSON body, another id).
 *
 * Requests of an initialized session (the forwarded calls, the hot path) are POSTed here
 * directly over the instance's connection pool, and their answer, one JSON body or an SSE
 * stream (parsed with `eventsource-parser`, as the SDK does), is validated with the SDK's
 * message schemas (`messageSchemaFor`) and handed to the SDK `Client` above; the SDK
 * transport's fetch-API round trip (`Headers`, `Response`, web streams) cost more than the rest
 * of a forwarded call.
 * Everything else (`initialize`, notifications, the standalone GET stream, `DELETE`) goes
 * through the SDK transport.
 */
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type {
  FetchLike,
  Transport,
  TransportSendOptions,
} from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage, JSONRPCRequest, RequestId } from "@modelcontextprotocol/sdk/types.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { createParser } from "eventsource-parser";
import type { Dispatcher } from "undici";
import {
  AnswerTooLargeError,
  isNotification,
  isRequest,
  isResponse,
  MAX_NESTING,
  messageSchemaFor,
  passableFromBackend,
  PROTOCOL_HEADER,
  readBoundedText,
  redactUrl,
  SESSION_HEADER,
} from "@mcp-platform/shared";
import { MAX_UPSTREAM_ANSWER_BYTES, upstreamFetch, upstreamRequest } from "./upstream-fetch";

/** Longest the router waits for an instance to answer the `DELETE` of its session. */
export const TERMINATE_WAIT_MS = 2_000;

/** Most of an error answer's body kept for its message. */
const ERROR_TEXT_BYTES = 64 * 1024;

/** `data` of the error delivered for a call whose stream ended without a response. */
export const UPSTREAM_LOST = { routerReason: "upstream-lost" } as const;

/**
 * How long after a call's stream ended its response may still be in the SDK's parsing pipeline
 * (it is normally handled within the same turn of the event loop).
 */
const LOST_GRACE_MS = 20;

/** Connection errors that prove nothing was sent. */
const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** The request never reached the instance (or the instance refused it unprocessed): retryable. */
export class NotDeliveredError extends Error {
  constructor(
    message: string,
    /** Short reason for metrics: `refused` or `unavailable`. */
    readonly reason: "refused" | "unavailable",
  ) {
    super(message);
    this.name = "NotDeliveredError";
  }
}

/** The instance no longer knows the router's session (it restarted or expired it): re-initialize. */
export class SessionExpiredError extends Error {
  constructor() {
    super("the upstream session is no longer known to the instance");
    this.name = "SessionExpiredError";
  }
}

/**
 * The caller's error for an HTTP 4xx answer (404 aside): the instance is up and refused this one
 * request, which says nothing about its health. The likeliest is 413: the router re-serializes a
 * call it forwards (a renamed tool, a mapped progress token), and JSON such as `1e20` grows when
 * written out again, so a call just under the limit may exceed the instance's.
 */
function refusedByInstance(status: number): McpError {
  const why = status === 413 ? ": the request is larger than the instance accepts" : "";
  return new McpError(ErrorCode.InvalidRequest, `The instance refused the request (HTTP ${status})${why}`, {
    status,
  });
}

/** A message of the instance's answer, validated as the SDK's transport does; throws when invalid. */
function parseMessage(value: unknown): JSONRPCMessage {
  return messageSchemaFor(value).parse(value);
}

/** Whether `error` is the error `UpstreamTransport` delivers for a lost call. */
export function isUpstreamLost(error: unknown): boolean {
  return (
    error instanceof McpError &&
    typeof error.data === "object" &&
    error.data !== null &&
    (error.data as Record<string, unknown>).routerReason === UPSTREAM_LOST.routerReason
  );
}

/** The codes of an error and of its causes (fetch wraps socket errors, sometimes in aggregates). */
function errorCodes(error: unknown, depth = 0): string[] {
  if (typeof error !== "object" || error === null || depth > 4) return [];
  const record = error as { code?: unknown; cause?: unknown; errors?: unknown };
  const own = typeof record.code === "string" ? [record.code] : [];
  const nested = Array.isArray(record.errors) ? record.errors.flatMap((e) => errorCodes(e, depth + 1)) : [];
  return [...own, ...nested, ...errorCodes(record.cause, depth + 1)];
}

/** Whether a fetch failure happened before any byte of the request could be sent. */
export function failedBeforeSending(error: unknown): boolean {
  const codes = errorCodes(error);
  return codes.length > 0 && codes.every((code) => NOT_SENT_CODES.has(code));
}

/** The JSON-RPC request id in a POST body, if the body is one request. */
function requestIdOf(body: unknown): RequestId | undefined {
  if (typeof body !== "string") return undefined;
  try {
    const message = JSON.parse(body) as { id?: unknown; method?: unknown };
    const id = message.id;
    return typeof message.method === "string" && (typeof id === "string" || typeof id === "number")
      ? id
      : undefined;
  } catch {
    return undefined;
  }
}

/** An SDK transport to one instance's `/mcp`, reporting undelivered and lost requests. */
export class UpstreamTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  private readonly inner: StreamableHTTPClientTransport;
  /** Requests sent and not answered yet. */
  private readonly pending = new Set<RequestId>();
  /** The SSE answers being read, by request: a cancelled request's is closed. */
  private readonly streams = new Map<RequestId, Dispatcher.ResponseData["body"]>();
  private protocolVersion: string | undefined;
  /** Aborts the requests this transport POSTs itself when it closes. */
  private readonly aborter = new AbortController();

  constructor(private readonly url: URL) {
    this.inner = new StreamableHTTPClientTransport(url, { fetch: this.fetch });
    this.inner.onmessage = (message) => this.deliver(message);
    this.inner.onerror = (error) => this.onerror?.(error);
    this.inner.onclose = () => this.onclose?.();
  }

  /** The upstream session id, once initialized. */
  get sessionId(): string | undefined {
    return this.inner.sessionId;
  }

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
    this.inner.setProtocolVersion(version);
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  close(): Promise<void> {
    this.aborter.abort();
    return this.inner.close();
  }

  /**
   * Ends the upstream session (`DELETE`); failures are ignored, the instance may be gone. Waits
   * at most `TERMINATE_WAIT_MS`: an instance that never answers must not hold up the replica's
   * shutdown (closing the transport then aborts the request).
   */
  async terminate(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, TERMINATE_WAIT_MS)));
    await Promise.race([this.inner.terminateSession().catch(() => undefined), waited]);
    clearTimeout(timer);
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (isRequest(message)) this.pending.add(message.id);
    else if (isNotification(message) && message.method === "notifications/cancelled") {
      const id = (message.params as { requestId?: RequestId } | undefined)?.requestId;
      if (id !== undefined) {
        this.pending.delete(id);
        // Nothing more of its answer is wanted (the SDK cancels on timeout and on the caller's
        // abort); closing the stream frees its connection even if the instance never ends it.
        this.streams.get(id)?.destroy();
        this.streams.delete(id);
      }
    }
    try {
      const sessionId = this.inner.sessionId;
      if (isRequest(message) && sessionId !== undefined && options?.resumptionToken === undefined) {
        await this.post(message, sessionId);
      } else {
        await this.inner.send(message, options);
      }
    } catch (error) {
      if (isRequest(message)) this.pending.delete(message.id);
      if (error instanceof StreamableHTTPError && error.code === 404) throw new SessionExpiredError();
      if (error instanceof StreamableHTTPError && error.code === 503) {
        throw new NotDeliveredError("the instance answered 503 (not serving)", "unavailable");
      }
      if (
        error instanceof StreamableHTTPError &&
        error.code !== undefined &&
        error.code >= 400 &&
        error.code < 500
      ) {
        throw refusedByInstance(error.code);
      }
      throw error;
    }
  }

  /**
   * A message from the instance, to the SDK client above. One nested deeper than clients may send
   * (`MAX_NESTING`) could not be written out to the client: a response becomes an error for its
   * call, anything else is dropped.
   */
  private deliver(received: JSONRPCMessage): void {
    const message = passableFromBackend(received, "The instance");
    if (message !== received) {
      this.onerror?.(new Error(`the instance sent a message nested deeper than ${MAX_NESTING} levels`));
    }
    if (message === undefined) return;
    if (isResponse(message) && message.id !== undefined) this.pending.delete(message.id);
    this.onmessage?.(message);
  }

  /**
   * POSTs a request of the initialized session and reads its answer: a JSON body, or an SSE
   * stream read in the background (progress, then the response) whose end without a response
   * fails the call at once. Non-2xx answers throw as the SDK transport would.
   */
  private async post(message: JSONRPCRequest, sessionId: string): Promise<void> {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      [SESSION_HEADER]: sessionId,
    };
    if (this.protocolVersion !== undefined) headers[PROTOCOL_HEADER] = this.protocolVersion;
    const response = await this.request(() =>
      upstreamRequest(this.url, {
        method: "POST",
        headers,
        body: JSON.stringify(message),
        signal: this.aborter.signal,
      }),
    );
    const status = response.statusCode;
    if (status < 200 || status >= 300) {
      const text = await readBoundedText(response.body, ERROR_TEXT_BYTES).catch(() => "");
      throw new StreamableHTTPError(status, `Error POSTing to endpoint: ${text}`);
    }
    // Cancelled while its answer was on the way: nothing of it is wanted.
    if (!this.pending.has(message.id)) return void response.body.destroy();
    const type = String(response.headers["content-type"] ?? "");
    if (type.startsWith("text/event-stream")) {
      void this.readStream(response.body, message.id);
      return;
    }
    // Read as a stream is (a cancellation ends it), never past the answer limit.
    this.streams.set(message.id, response.body);
    let text: string;
    try {
      text = await readBoundedText(response.body, MAX_UPSTREAM_ANSWER_BYTES);
    } catch (error) {
      if (error instanceof AnswerTooLargeError) this.tooLarge(message.id);
      else this.lost(message.id);
      return;
    } finally {
      if (this.streams.get(message.id) === response.body) this.streams.delete(message.id);
    }
    if (type.startsWith("application/json") && text !== "") {
      const data = JSON.parse(text) as unknown;
      for (const item of Array.isArray(data) ? data : [data]) this.deliverFor(message.id, parseMessage(item));
    }
    // An answer that was not the request's response (a 202, an empty body, another content type,
    // only notifications, another id) brings none later: the call fails now, not at its timeout.
    this.lost(message.id, "The upstream instance answered without a response to the request");
  }

  /**
   * Delivers a message of request `id`'s answer. A response to another request is dropped: many
   * clients' calls share this session, and an instance's stray answer must not settle someone
   * else's call.
   */
  private deliverFor(id: RequestId, message: JSONRPCMessage): void {
    if (isResponse(message) && message.id !== id) {
      this.onerror?.(new Error("the instance answered another request on a call's answer; dropped"));
      return;
    }
    this.deliver(message);
  }

  /**
   * Delivers the events of a call's SSE answer; its end without the response loses the call.
   * The SDK client handles a notification one microtask after it arrives but a response at
   * once, so each notification gets a turn of the event loop before the next event: progress
   * sent just before the answer still reaches the caller.
   */
  private async readStream(body: Dispatcher.ResponseData["body"], id: RequestId): Promise<void> {
    const events: string[] = [];
    const parser = createParser({
      onEvent: (event) => {
        if (event.event === undefined || event.event === "message") events.push(event.data);
      },
    });
    this.streams.set(id, body);
    /** Bytes read since the last whole event: an event that never ends must not grow without end. */
    let unfinished = 0;
    try {
      body.setEncoding("utf8");
      for await (const chunk of body) {
        parser.feed(chunk as string);
        unfinished = events.length > 0 ? 0 : unfinished + (chunk as string).length;
        if (unfinished > MAX_UPSTREAM_ANSWER_BYTES) {
          body.destroy();
          this.tooLarge(id);
          break;
        }
        for (const data of events.splice(0)) {
          let message: JSONRPCMessage;
          try {
            message = parseMessage(JSON.parse(data));
          } catch (error) {
            this.onerror?.(error instanceof Error ? error : new Error(String(error)));
            continue;
          }
          this.deliverFor(id, message);
          if (isNotification(message)) await new Promise((resolve) => setImmediate(resolve));
        }
      }
    } catch {
      // The connection dropped mid-stream, or the call was cancelled; what was delivered stands.
    }
    if (this.streams.get(id) === body) this.streams.delete(id);
    this.lost(id);
  }

  /** Runs an upstream request, telling a request that never left (retryable) from others. */
  private async request<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (failedBeforeSending(error)) {
        throw new NotDeliveredError(
          `cannot connect to ${redactUrl(this.url.href)}: ${errorCodes(error).join(", ")}`,
          "refused",
        );
      }
      throw error;
    }
  }

  /** `fetch` as the SDK transport uses it, classifying failures and watching call streams. */
  private readonly fetch: FetchLike = async (url, init) => {
    const response = await this.request(() => upstreamFetch(url, init));
    const type = response.headers.get("content-type") ?? "";
    if (init?.method !== "POST" || response.body === null || !type.startsWith("text/event-stream")) {
      return response;
    }
    const id = requestIdOf(init.body);
    if (id === undefined) return response;
    return new Response(this.watchEnd(response.body, id), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };

  /** `body`, unchanged, with its end (clean or not) reported for request `id`. */
  private watchEnd(body: ReadableStream<Uint8Array>, id: RequestId): ReadableStream<Uint8Array> {
    const reader = body.getReader();
    const ended = () => void setTimeout(() => this.lost(id), LOST_GRACE_MS).unref();
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          const { done, value } = await reader.read();
          if (done) {
            controller.close();
            ended();
          } else {
            controller.enqueue(value);
          }
        } catch (error) {
          controller.error(error);
          ended();
        }
      },
      cancel: (reason) => reader.cancel(reason),
    });
  }

  /** Fails request `id`, unless answered or cancelled already: its answer passed the limit. */
  private tooLarge(id: RequestId): void {
    this.fail(id, {
      code: ErrorCode.InternalError,
      message: `The upstream instance's answer is larger than ${MAX_UPSTREAM_ANSWER_BYTES} bytes`,
    });
  }

  /** Fails request `id` as lost (`UPSTREAM_LOST`), unless it was answered or cancelled already. */
  private lost(id: RequestId, message = "The upstream instance closed the stream before answering"): void {
    this.fail(id, { code: ErrorCode.ConnectionClosed, message, data: UPSTREAM_LOST });
  }

  /** Answers request `id` with `error` to the SDK client, unless it was answered or cancelled. */
  private fail(id: RequestId, error: { code: number; message: string; data?: unknown }): void {
    if (!this.pending.delete(id)) return;
    this.onmessage?.({ jsonrpc: "2.0", id, error });
  }
}
