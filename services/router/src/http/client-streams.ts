/**
 * The long-lived client streams one replica holds on the merged catalog: Streamable HTTP
 * standalone `GET /mcp` streams. They carry `notifications/<list>/list_changed` when this
 * replica's catalog changes, and keep-alive comments in between; any replica can hold a
 * session's stream, since it needs nothing but the catalog every replica has.
 */
import type { ServerResponse } from "node:http";
import type { JSONRPCNotification } from "@modelcontextprotocol/sdk/types.js";
import type { RouterMetrics } from "../metrics";
import { openSseStream, SESSION_HEADER, sseEvent, writeSse } from "@mcp-platform/shared";

interface Stream {
  readonly session: string;
  readonly res: ServerResponse;
}

/** Standalone GET streams of this replica. */
export class ClientStreams {
  private readonly streams = new Set<Stream>();

  constructor(private readonly options: { keepAliveMs: number; metrics: RouterMetrics }) {}

  /** Open streams. */
  get size(): number {
    return this.streams.size;
  }

  /** Starts a stream on `res` for session nonce `session`, echoing `sessionId`. */
  open(session: string, sessionId: string, res: ServerResponse): void {
    openSseStream(res, { headers: { [SESSION_HEADER]: sessionId }, keepAliveMs: this.options.keepAliveMs });
    const stream: Stream = { session, res };
    this.streams.add(stream);
    this.options.metrics.streams.inc({ transport: "streamable-http" });
    res.once("close", () => this.drop(stream));
  }

  /**
   * Writes `notification` once per session: a client may hold several streams (MCP allows it),
   * but a message goes on only one of them, here the session's latest.
   */
  broadcast(notification: JSONRPCNotification): void {
    const event = sseEvent(notification);
    const latest = new Map<string, Stream>();
    for (const stream of this.streams) if (!stream.res.writableEnded) latest.set(stream.session, stream);
    for (const stream of latest.values()) writeSse(stream.res, event);
  }

  /** Ends the streams of one session (DELETE). */
  closeSession(session: string): void {
    for (const stream of this.streams) if (stream.session === session) stream.res.end();
  }

  /** Ends every stream (shutdown: clients reconnect through the balancer to another replica). */
  closeAll(): void {
    for (const stream of this.streams) stream.res.end();
  }

  private drop(stream: Stream): void {
    if (!this.streams.delete(stream)) return;
    this.options.metrics.streams.dec({ transport: "streamable-http" });
  }
}
