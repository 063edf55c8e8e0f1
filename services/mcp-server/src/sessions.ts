/**
 * Client sessions on both MCP transports: Streamable HTTP (`POST`/`GET`/`DELETE /mcp`, framed by
 * the shared kit, see `streamable-session.ts`) and the legacy SSE pair (`GET /sse` +
 * `POST /messages`, the SDK's `SSEServerTransport`). This module keeps them by session id, wires
 * them to the multiplexer, expires idle ones, and closes them all at shutdown.
 */
import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { SSEServerTransport } from "@modelcontextprotocol/sdk/server/sse.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { isRequest, JSONRPC_ERROR, keepSseAlive, sendOnSse, SESSION_HEADER } from "@mcp-platform/shared";
import type { Logger } from "pino";
import type { ClientSession, Multiplexer } from "./bridge/multiplexer";
import type { McpMetrics } from "./metrics";
import { StreamableSession } from "./streamable-session";

/** Transport names as the metrics label them. */
export type TransportKind = "streamable-http" | "sse";

/** One open session, with the transport of its kind. */
export type SessionEntry = (
  | { readonly kind: "streamable-http"; readonly session: StreamableSession }
  | { readonly kind: "sse"; readonly session: ClientSession; readonly transport: SSEServerTransport }
) & { lastSeen: number };

/** Sessions settings. */
export interface SessionOptions {
  readonly mux: Multiplexer;
  readonly metrics: McpMetrics;
  readonly logger: Logger;
  /**
   * A Streamable HTTP session this long without a request, with no stream open and no client
   * waiting on an answer, is closed.
   */
  readonly idleTimeoutMs: number;
  /** Most sessions open at once, both transports together. */
  readonly maxSessions: number;
  /** Interval of SSE keep-alive comments on open streams. */
  readonly keepAliveMs: number;
  /** Clock, for tests. */
  readonly now?: () => number;
}

/** The registry of open sessions. */
export class Sessions {
  private readonly entries = new Map<string, SessionEntry>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly now: () => number;
  /** The last `admit()` refused. */
  private refusing = false;

  constructor(private readonly options: SessionOptions) {
    this.now = options.now ?? Date.now;
    this.sweeper = setInterval(() => void this.expireIdle(), Math.min(options.idleTimeoutMs, 60_000));
    this.sweeper.unref();
  }

  /** Open sessions. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Whether another session may open: false while `maxSessions` are open, so a flood of
   * `initialize` requests cannot exhaust the server's memory. The first refusal after a spell
   * with room is logged.
   */
  admit(): boolean {
    if (this.entries.size < this.options.maxSessions) {
      this.refusing = false;
      return true;
    }
    if (!this.refusing) {
      this.refusing = true;
      this.options.logger.warn(
        { maxSessions: this.options.maxSessions },
        "session limit reached; new sessions are refused until some close",
      );
    }
    return false;
  }

  /** Most sessions open at once. */
  get maxSessions(): number {
    return this.options.maxSessions;
  }

  /** A Streamable HTTP session, marking it used. */
  streamable(id: string): StreamableSession | undefined {
    const entry = this.entries.get(id);
    if (entry?.kind !== "streamable-http") return undefined;
    entry.lastSeen = this.now();
    return entry.session;
  }

  /** The legacy SSE transport of a session. */
  sse(id: string): SSEServerTransport | undefined {
    const entry = this.entries.get(id);
    return entry?.kind === "sse" ? entry.transport : undefined;
  }

  private add(id: string, entry: SessionEntry): void {
    this.entries.set(id, entry);
    this.options.mux.attach(entry.session);
    this.options.metrics.sessions.inc({ transport: entry.kind });
    this.options.logger.debug({ session: id, transport: entry.kind }, "session opened");
  }

  private remove(id: string): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    this.entries.delete(id);
    this.options.mux.detach(entry.session);
    this.options.metrics.sessions.dec({ transport: entry.kind });
    this.options.logger.debug({ session: id, transport: entry.kind }, "session closed");
  }

  /** A new Streamable HTTP session, for an `initialize` request; its id is the header's value. */
  createStreamable(): StreamableSession {
    const session = new StreamableSession(randomUUID(), {
      keepAliveMs: this.options.keepAliveMs,
      deliver: (from, message) => this.deliver(from, message),
      onInitializeFailed: (failed) => this.remove(failed.id),
    });
    this.add(session.id, { kind: "streamable-http", session, lastSeen: this.now() });
    return session;
  }

  /**
   * Hands a client's message to the multiplexer. A failure there is a bug, not the client's: it is
   * logged, a request gets an internal error, and the process and every other session go on.
   */
  private deliver(session: ClientSession, message: JSONRPCMessage): void {
    this.options.mux.handleClient(session, message).catch((error: unknown) => {
      this.options.logger.error({ err: error, session: session.id }, "message handling failed");
      if (!isRequest(message)) return;
      const answer: JSONRPCMessage = {
        jsonrpc: "2.0",
        id: message.id,
        error: { code: JSONRPC_ERROR.internalError, message: "Internal error" },
      };
      session.send(answer, message.id).catch(() => undefined);
    });
  }

  /** Ends a Streamable HTTP session (DELETE). */
  closeStreamable(id: string, reason: string): void {
    const entry = this.entries.get(id);
    if (entry?.kind !== "streamable-http") return;
    entry.session.close(reason);
    this.remove(id);
  }

  /** A legacy SSE session on `res`; the stream and the keep-alive comments start at once. */
  async createSse(res: ServerResponse, endpoint: string): Promise<SSEServerTransport> {
    const transport = new SSEServerTransport(endpoint, res);
    const id = transport.sessionId;
    const session: ClientSession = { id, send: (message) => sendOnSse(transport, res, message) };
    transport.onmessage = (message) => this.deliver(session, message);
    transport.onclose = () => this.remove(id);
    // The stream names its session as a Streamable HTTP answer does: a balancer in front of
    // several instances (HAProxy's direct ports) learns from it where the session's POSTs go.
    res.setHeader(SESSION_HEADER, id);
    await transport.start();
    this.add(id, { kind: "sse", session, transport, lastSeen: this.now() });
    keepSseAlive(res, this.options.keepAliveMs);
    res.on("close", () => this.remove(id));
    return transport;
  }

  /**
   * Close Streamable HTTP sessions idle for longer than the timeout (SSE ones live with their
   * stream). A session in use (its standalone stream open, as an idle SDK client keeps it, or its
   * client waiting on a long call) is not idle: its idle time starts when it is no longer in use.
   */
  async expireIdle(): Promise<number> {
    const now = this.now();
    const cutoff = now - this.options.idleTimeoutMs;
    const idle: [string, SessionEntry][] = [];
    for (const [id, entry] of this.entries) {
      if (entry.kind !== "streamable-http") continue;
      if (entry.session.inUse) entry.lastSeen = now;
      else if (entry.lastSeen < cutoff) idle.push([id, entry]);
    }
    for (const [id] of idle) {
      this.options.logger.info({ session: id }, "closing idle session");
      this.closeStreamable(id, "idle for too long");
    }
    return idle.length;
  }

  /** Close every session (shutdown). */
  async closeAll(): Promise<void> {
    clearInterval(this.sweeper);
    const all = [...this.entries];
    await Promise.all(
      all.map(([, e]) =>
        e.kind === "sse"
          ? this.options.mux
              .endRequests(e.session, "server shutting down")
              .then(() => e.transport.close())
              .catch(() => undefined)
          : e.session.close("server shutting down"),
      ),
    );
    for (const [id] of all) this.remove(id);
  }
}
