/**
 * Shares a pool of server links among many client sessions. Every request forwarded to a link
 * gets a fresh id (and a fresh progress token), so sessions that reuse the same ids never see
 * each other's answers; replies, progress and cancellation are mapped back to the session that
 * asked. `list_changed` and other unsolicited notifications go to every session. Requests that
 * belong to the session itself (`initialize`, `ping`, `logging/setLevel`) are answered here.
 */
import type {
  InitializeResult,
  JSONRPCMessage,
  JSONRPCRequest,
  LoggingLevel,
  ProgressToken,
  RequestId,
  ServerCapabilities,
} from "@modelcontextprotocol/sdk/types.js";
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  GetPromptRequestSchema,
  LATEST_PROTOCOL_VERSION,
  LoggingLevelSchema,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
} from "@modelcontextprotocol/sdk/types.js";
import {
  idInFlight,
  IdleWaiters,
  isNotification,
  isRequest,
  isResponse,
  isRequestId,
  JSONRPC_ERROR,
  passableFromBackend,
  requestIdKey,
} from "@mcp-platform/shared";
import type { Logger } from "pino";
import type { LinkPool, Slot } from "./pool";

/** JSON-RPC "internal error": the request could not be completed by the server. */
export const INTERNAL_ERROR = -32603;

/** The SDK schemas of the requests whose params are checked before they go to a child. */
const PARAMS_SCHEMAS: ReadonlyMap<string, { safeParse(value: unknown): { success: boolean } }> = new Map<
  string,
  { safeParse(value: unknown): { success: boolean } }
>([
  ["tools/call", CallToolRequestSchema],
  ["prompts/get", GetPromptRequestSchema],
  ["resources/read", ReadResourceRequestSchema],
  ["completion/complete", CompleteRequestSchema],
  ["logging/setLevel", SetLevelRequestSchema],
]);

/**
 * Requests a child shared by every session cannot serve per session, refused here: MCP tasks (a
 * child's tasks would be listed and read by every session, and a follow-up could reach another
 * child) and resource subscriptions (a child cannot tell subscribers apart: updates would go to
 * every session, and one session's unsubscribe would end another's).
 */
const UNSUPPORTED_METHODS: ReadonlySet<string> = new Set([
  "tasks/get",
  "tasks/result",
  "tasks/list",
  "tasks/cancel",
  "resources/subscribe",
  "resources/unsubscribe",
]);

/** Notifications of what `UNSUPPORTED_METHODS` refuses: no session asked for them. */
const DROPPED_NOTIFICATIONS: ReadonlySet<string> = new Set([
  "notifications/resources/updated",
  "notifications/tasks/status",
]);

/** Logging levels, least severe first. */
const LOG_LEVELS: readonly LoggingLevel[] = LoggingLevelSchema.options;

/** A log message's severity (`LOG_LEVELS` index); one without a known level counts as the most severe. */
function severityOf(params: unknown): number {
  const index = LOG_LEVELS.indexOf((params as { level?: LoggingLevel } | undefined)?.level as LoggingLevel);
  return index < 0 ? LOG_LEVELS.length : index;
}

/** What a bridged child declared, less what the bridge refuses (`UNSUPPORTED_METHODS`). */
export function bridgedCapabilities(capabilities: ServerCapabilities): ServerCapabilities {
  const bridged: ServerCapabilities = { ...capabilities };
  delete bridged.tasks;
  if (bridged.resources !== undefined) {
    bridged.resources = { ...bridged.resources };
    delete bridged.resources.subscribe;
  }
  return bridged;
}

/** A client session as the multiplexer sees it: where to send what belongs to it. */
export interface ClientSession {
  readonly id: string;
  send(message: JSONRPCMessage, relatedRequestId?: RequestId): Promise<void>;
  /**
   * The client cancelled request `requestId`: it gets no response (MCP cancellation), so
   * whatever waits for one (a Streamable HTTP POST) must be released.
   */
  cancelled?(requestId: RequestId): void;
}

/** How a forwarded call ended, for metrics. */
export type CallOutcome = "ok" | "tool_error" | "error" | "crashed" | "cancelled";

/** Observer of forwarded calls (metrics). */
export interface CallObserver {
  callEnded(method: string, tool: string | undefined, outcome: CallOutcome, seconds: number): void;
}

interface Pending {
  readonly session: ClientSession;
  readonly originalId: RequestId;
  readonly slot: Slot;
  readonly method: string;
  readonly tool: string | undefined;
  readonly startedAt: number;
  readonly token?: { readonly rewritten: string; readonly original: ProgressToken };
}

/** Protocol version to announce to a client: its own when the SDK supports it, else the latest. */
export function negotiateVersion(requested: unknown): string {
  return typeof requested === "string" && SUPPORTED_PROTOCOL_VERSIONS.includes(requested)
    ? requested
    : LATEST_PROTOCOL_VERSION;
}

/** The key of a session's request while it waits for a link. */
function queuedKey(session: ClientSession, id: RequestId): string {
  return `${session.id}\u0000${requestIdKey(id)}`;
}

/** Routes messages between client sessions and the pool's links. */
export class Multiplexer {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly bySession = new Map<ClientSession, Map<string, number>>();
  private readonly tokens = new Map<string, number>();
  /** Requests waiting for a link (`queuedKey`); a cancellation removes its entry. */
  private readonly queued = new Set<string>();
  /** The logging level each session set (`logging/setLevel`); unset: every message. */
  private readonly levels = new Map<ClientSession, number>();
  private readonly idle = new IdleWaiters();

  constructor(
    private readonly pool: LinkPool,
    private readonly logger: Logger,
    private readonly observer?: CallObserver,
  ) {}

  /** Sessions currently attached. */
  get sessionCount(): number {
    return this.bySession.size;
  }

  /** Requests forwarded and not answered yet. */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Resolves once no forwarded request is unanswered (true), or after `timeoutMs` or once
   * `signal` (the shutdown deadline) aborts (false).
   */
  waitIdle(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return this.idle.wait(() => this.pending.size === 0, timeoutMs, signal);
  }

  /** Start routing for a session. */
  attach(session: ClientSession): void {
    if (!this.bySession.has(session)) this.bySession.set(session, new Map());
  }

  /** Stop routing for a session; its unanswered requests are cancelled on their links. */
  detach(session: ClientSession): void {
    const own = this.bySession.get(session);
    if (own === undefined) return;
    this.bySession.delete(session);
    this.levels.delete(session);
    for (const id of own.values()) this.cancelOnLink(id, "client session closed");
  }

  /**
   * Ends a session's forwarded requests (its transport is about to close): each is answered with
   * an internal error naming `reason` and cancelled on its link. Resolves once every answer was
   * written (or could not be).
   */
  async endRequests(session: ClientSession, reason: string): Promise<void> {
    const own = this.bySession.get(session);
    if (own === undefined) return;
    const ended = [...own.values()].flatMap((id) => {
      const p = this.pending.get(id);
      if (p === undefined) return [];
      this.cancelOnLink(id, reason);
      return [this.fail(session, p.originalId, `the session was closed (${reason})`)];
    });
    await Promise.all(ended);
  }

  /** A message from a client session. */
  async handleClient(session: ClientSession, message: JSONRPCMessage): Promise<void> {
    if (isRequest(message)) return this.handleRequest(session, message);
    if (isNotification(message) && message.method === "notifications/cancelled") {
      const params = message.params as { requestId?: unknown; reason?: string } | undefined;
      const requestId = params?.requestId;
      if (!isRequestId(requestId)) return;
      if (this.queued.delete(queuedKey(session, requestId))) {
        session.cancelled?.(requestId);
        return;
      }
      const id = this.bySession.get(session)?.get(requestIdKey(requestId));
      if (id === undefined) return;
      this.cancelOnLink(id, params?.reason);
      session.cancelled?.(requestId);
    }
    // Other notifications (initialized, roots/list_changed) and responses concern the session only.
  }

  private async handleRequest(session: ClientSession, request: JSONRPCRequest): Promise<void> {
    const reply = (result: Record<string, unknown>) =>
      session.send({ jsonrpc: "2.0", id: request.id, result }, request.id);
    // Ids are unique within a session: a cancellation naming one could not tell two apart (the
    // Streamable HTTP session refuses these before they get here; the legacy SSE one does not).
    const key = requestIdKey(request.id);
    if (this.bySession.get(session)?.has(key) === true || this.queued.has(queuedKey(session, request.id))) {
      return session.send(idInFlight(request.id), request.id);
    }
    if (request.method === "ping") return reply({});
    // Requests whose params the SDK would otherwise refuse with an internal error and a raw
    // schema dump (or a bridged child with whatever it says) get a plain invalid-params error.
    const schema = PARAMS_SCHEMAS.get(request.method);
    if (schema !== undefined && !schema.safeParse(request).success) {
      return this.fail(
        session,
        request.id,
        `Invalid params for ${request.method}`,
        JSONRPC_ERROR.invalidParams,
      );
    }
    if (UNSUPPORTED_METHODS.has(request.method)) {
      return this.fail(
        session,
        request.id,
        `Method not found: ${request.method} is not supported here (one tool process serves every session)`,
        JSONRPC_ERROR.methodNotFound,
      );
    }
    if ((request.params as { task?: unknown } | undefined)?.task !== undefined) {
      return this.fail(
        session,
        request.id,
        "Invalid params: task-augmented requests are not supported here (one tool process serves every session)",
        JSONRPC_ERROR.invalidParams,
      );
    }
    // One child serves many sessions, so no session's level is passed on: the session's own
    // level filters the child's log messages it is sent.
    if (request.method === "logging/setLevel") {
      const level = (request.params as { level: LoggingLevel }).level;
      this.levels.set(session, LOG_LEVELS.indexOf(level));
      return reply({});
    }
    // Waiting for a link (all children restarting) counts as in progress: a cancellation now
    // releases the client at once and the request is never sent.
    const waiting = queuedKey(session, request.id);
    this.queued.add(waiting);
    let slot: Slot;
    try {
      slot = await this.pool.acquire();
    } catch (error) {
      this.queued.delete(waiting);
      return this.fail(session, request.id, (error as Error).message);
    }
    const cancelled = !this.queued.delete(waiting);
    if (request.method === "initialize") {
      this.pool.release(slot);
      const init = this.pool.initializeResult as InitializeResult;
      const requested = (request.params as { protocolVersion?: unknown } | undefined)?.protocolVersion;
      return reply({
        ...init,
        capabilities: bridgedCapabilities(init.capabilities),
        protocolVersion: negotiateVersion(requested),
      });
    }
    const own = this.bySession.get(session);
    if (cancelled || own === undefined) {
      // Cancelled, or its session closed, while waiting for a link: it is never sent.
      this.pool.release(slot);
      return;
    }
    const id = this.nextId++;
    const params = request.params as
      (Record<string, unknown> & { _meta?: Record<string, unknown> }) | undefined;
    const originalToken = params?._meta?.progressToken as ProgressToken | undefined;
    const token = originalToken === undefined ? undefined : { rewritten: `p${id}`, original: originalToken };
    const forwarded: JSONRPCRequest = {
      ...request,
      id,
      ...(token && params
        ? { params: { ...params, _meta: { ...params._meta, progressToken: token.rewritten } } }
        : {}),
    };
    const tool =
      request.method === "tools/call" ? String((params as { name?: unknown } | undefined)?.name) : undefined;
    this.pending.set(id, {
      session,
      originalId: request.id,
      slot,
      method: request.method,
      tool,
      startedAt: performance.now(),
      ...(token ? { token } : {}),
    });
    own.set(requestIdKey(request.id), id);
    if (token) this.tokens.set(token.rewritten, id);
    try {
      slot.link.send(forwarded);
    } catch (error) {
      this.settle(id, "crashed");
      return this.fail(session, request.id, `the tool server is not running: ${(error as Error).message}`);
    }
  }

  /** Answers request `id` of `session` with a JSON-RPC error (internal, unless `code` says). */
  private fail(session: ClientSession, id: RequestId, message: string, code = INTERNAL_ERROR): Promise<void> {
    return session.send({ jsonrpc: "2.0", id, error: { code, message } }, id).catch((error) => {
      this.logger.debug(
        { err: error, session: session.id },
        "could not deliver an error to a closed session",
      );
    });
  }

  /** Forget a forwarded request; returns what it was. */
  private settle(id: number, outcome: CallOutcome): Pending | undefined {
    const p = this.pending.get(id);
    if (p === undefined) return undefined;
    this.pending.delete(id);
    this.bySession.get(p.session)?.delete(requestIdKey(p.originalId));
    if (p.token) this.tokens.delete(p.token.rewritten);
    this.pool.release(p.slot);
    this.observer?.callEnded(p.method, p.tool, outcome, (performance.now() - p.startedAt) / 1000);
    this.idle.wake();
    return p;
  }

  private cancelOnLink(id: number, reason: string | undefined): void {
    const p = this.settle(id, "cancelled");
    if (p === undefined) return;
    try {
      p.slot.link.send({
        jsonrpc: "2.0",
        method: "notifications/cancelled",
        params: { requestId: id, ...(reason ? { reason } : {}) },
      });
    } catch {
      // The link is down; the request died with it.
    }
  }

  /**
   * A message from a link. One nested deeper than clients may send (`MAX_NESTING`) could not be
   * written out again: a response becomes an error for its caller, anything else is dropped.
   */
  handleLink(slot: Slot, received: JSONRPCMessage): void {
    const message = passableFromBackend(received, "the tool server");
    if (message !== received) {
      this.logger.warn(
        { link: slot.link.name },
        "the tool server sent a message nested too deep; not passed on",
      );
    }
    if (message === undefined) return;
    if (isResponse(message)) {
      // Only an id this link was given: another link's request is not its to answer.
      if (typeof message.id !== "number" || this.pending.get(message.id)?.slot !== slot) return;
      const isToolError = "result" in message && (message.result as { isError?: unknown }).isError === true;
      const p = this.settle(message.id, "error" in message ? "error" : isToolError ? "tool_error" : "ok");
      if (p === undefined) return; // cancelled, or its session is gone
      void p.session.send({ ...message, id: p.originalId }, p.originalId).catch((error) => {
        this.logger.debug({ err: error, session: p.session.id }, "could not deliver a response");
      });
      return;
    }
    if (isRequest(message)) {
      // Server-to-client requests cannot be answered for one of many sessions.
      const answer: JSONRPCMessage =
        message.method === "ping"
          ? { jsonrpc: "2.0", id: message.id, result: {} }
          : {
              jsonrpc: "2.0",
              id: message.id,
              error: { code: -32601, message: `${message.method} is not supported by the bridge` },
            };
      try {
        slot.link.send(answer);
      } catch (error) {
        // The link went down meanwhile; its calls fail through handleLinkDown.
        this.logger.debug({ err: error, link: slot.link.name }, "cannot answer the server's request");
      }
      return;
    }
    if (!isNotification(message)) return;
    if (message.method === "notifications/progress") {
      // The SDK's schema lets a notification come without params; such progress names no call.
      const params = (message.params ?? {}) as { progressToken?: ProgressToken } & Record<string, unknown>;
      const id =
        params.progressToken === undefined ? undefined : this.tokens.get(String(params.progressToken));
      const p = id === undefined ? undefined : this.pending.get(id);
      if (p?.token === undefined || p.slot !== slot) return;
      void p.session
        .send({ ...message, params: { ...params, progressToken: p.token.original } }, p.originalId)
        .catch(() => undefined);
      return;
    }
    if (message.method === "notifications/cancelled") {
      const requestId = (message.params as { requestId?: unknown } | undefined)?.requestId;
      if (typeof requestId === "number" && this.pending.get(requestId)?.slot === slot) {
        const p = this.settle(requestId, "cancelled");
        if (p) void this.fail(p.session, p.originalId, "the tool server cancelled the request");
      }
      return;
    }
    if (DROPPED_NOTIFICATIONS.has(message.method)) return;
    const severity = message.method === "notifications/message" ? severityOf(message.params) : undefined;
    for (const session of this.bySession.keys()) {
      if (severity !== undefined && severity < (this.levels.get(session) ?? 0)) continue;
      void session.send(message).catch(() => undefined);
    }
  }

  /** A link went down: every request in flight on it fails with a clear error. */
  handleLinkDown(slot: Slot, cause: string): void {
    for (const [id, p] of [...this.pending]) {
      if (p.slot !== slot) continue;
      this.settle(id, "crashed");
      void this.fail(
        p.session,
        p.originalId,
        `the tool server process ${cause} while handling this request; it is being restarted`,
      );
    }
  }
}
