/**
 * Client sessions on both MCP transports: Streamable HTTP (`POST`/`GET`/`DELETE /mcp`) and the
 * legacy SSE pair (`GET /sse` + `POST /messages`). The SDK's transports do the framing; this
 * module keeps them by session id, wires them to the multiplexer, expires idle ones, and closes
 * them all at shutdown.
 */
import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { SSEServerTransport } from "@modelcontextprotocol/sdk/server/sse.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { JSONRPCMessage, RequestId } from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "pino";
import type { ClientSession, Multiplexer } from "./bridge/multiplexer";
import type { McpMetrics } from "./metrics";

/** Transport names as the metrics label them. */
export type TransportKind = "streamable-http" | "sse";

/** One open session, with the transport of its kind. */
export type SessionEntry = (
  | { readonly kind: "streamable-http"; readonly transport: StreamableHTTPServerTransport }
  | { readonly kind: "sse"; readonly transport: SSEServerTransport }
) & { readonly session: ClientSession; lastSeen: number };

/** Sessions settings. */
export interface SessionOptions {
  readonly mux: Multiplexer;
  readonly metrics: McpMetrics;
  readonly logger: Logger;
  /** A Streamable HTTP session unused this long is closed. */
  readonly idleTimeoutMs: number;
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

  constructor(private readonly options: SessionOptions) {
    this.now = options.now ?? Date.now;
    this.sweeper = setInterval(() => void this.expireIdle(), Math.min(options.idleTimeoutMs, 60_000));
    this.sweeper.unref();
  }

  /** Open sessions. */
  get size(): number {
    return this.entries.size;
  }

  /** The Streamable HTTP transport of a session, marking it used. */
  streamable(id: string): StreamableHTTPServerTransport | undefined {
    const entry = this.entries.get(id);
    if (entry?.kind !== "streamable-http") return undefined;
    entry.lastSeen = this.now();
    return entry.transport;
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

  /**
   * A new Streamable HTTP transport for an `initialize` request. It joins the registry once the
   * SDK has assigned its session id, and leaves it when closed (DELETE, expiry, shutdown).
   */
  async createStreamable(): Promise<StreamableHTTPServerTransport> {
    let sessionId: string | undefined;
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      keepAliveMs: this.options.keepAliveMs,
      onsessioninitialized: (id) => {
        sessionId = id;
        this.add(id, { kind: "streamable-http", session, transport, lastSeen: this.now() });
      },
    });
    const session: ClientSession = {
      get id() {
        return sessionId ?? "(initializing)";
      },
      send: (message: JSONRPCMessage, relatedRequestId?: RequestId) =>
        transport.send(message, relatedRequestId === undefined ? undefined : { relatedRequestId }),
    };
    // Until the session is registered (its initialize is being answered) it is routed ad hoc.
    this.options.mux.attach(session);
    transport.onmessage = (message) => void this.options.mux.handleClient(session, message);
    transport.onclose = () => {
      if (sessionId !== undefined) this.remove(sessionId);
      else this.options.mux.detach(session);
    };
    transport.onerror = (error) =>
      this.options.logger.debug({ err: error, session: sessionId }, "transport error");
    await transport.start();
    return transport;
  }

  /** A legacy SSE session on `res`; the stream and the keep-alive comments start at once. */
  async createSse(res: ServerResponse, endpoint: string): Promise<SSEServerTransport> {
    const transport = new SSEServerTransport(endpoint, res);
    const id = transport.sessionId;
    const session: ClientSession = { id, send: (message) => transport.send(message) };
    transport.onmessage = (message) => void this.options.mux.handleClient(session, message);
    transport.onclose = () => this.remove(id);
    await transport.start();
    this.add(id, { kind: "sse", session, transport, lastSeen: this.now() });
    const keepAlive = setInterval(() => {
      if (!res.writableEnded) res.write(": keep-alive\n\n");
    }, this.options.keepAliveMs);
    keepAlive.unref();
    res.on("close", () => {
      clearInterval(keepAlive);
      this.remove(id);
    });
    return transport;
  }

  /** Close Streamable HTTP sessions idle for longer than the timeout (SSE ones live with their stream). */
  async expireIdle(): Promise<number> {
    const cutoff = this.now() - this.options.idleTimeoutMs;
    const idle = [...this.entries].filter(([, e]) => e.kind === "streamable-http" && e.lastSeen < cutoff);
    for (const [id, e] of idle) {
      this.options.logger.info({ session: id }, "closing idle session");
      await e.transport.close();
      this.remove(id);
    }
    return idle.length;
  }

  /** Close every session (shutdown). */
  async closeAll(): Promise<void> {
    clearInterval(this.sweeper);
    const all = [...this.entries];
    await Promise.all(all.map(([, e]) => e.transport.close().catch(() => undefined)));
    for (const [id] of all) this.remove(id);
  }
}
