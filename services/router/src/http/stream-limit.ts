/**
 * The most long-lived client streams one replica holds (`ROUTER_MAX_STREAMS`): standalone
 * `GET /mcp` streams, legacy `GET /sse` streams and the `GET` streams it relays for the
 * passthrough, together. Each costs memory for as long as its client keeps it open (about
 * 40 KiB idle, more while writes are buffered), and nothing else bounds them but the front door's
 * connection limit, which is sized for the balancer, not for a replica: without this cap a flood
 * of streams would take a replica past its memory limit, and its OOM kill would drop every call
 * and stream it held. A stream beyond the cap is refused with 503 and `Retry-After`; the client's
 * retry lands on another replica (round-robin) or here once streams have closed. Calls (`POST`)
 * are never refused for it.
 */
import type { FastifyReply } from "fastify";
import { refuseUnavailable } from "@mcp-platform/shared";
import type { RouterMetrics } from "../metrics";

/** Transports whose streams count against the cap. */
export type StreamTransport = "streamable-http" | "sse" | "passthrough";

/** The cap on this replica's open client streams. */
export class StreamLimit {
  private readonly sources: (() => number)[] = [];

  constructor(
    /** Most streams open at once. */
    readonly max: number,
    private readonly metrics: RouterMetrics,
  ) {}

  /** Counts the streams `open` reports against the cap. */
  count(open: () => number): void {
    this.sources.push(open);
  }

  /** Streams open now, of every source. */
  get open(): number {
    return this.sources.reduce((sum, open) => sum + open(), 0);
  }

  /** True when one more stream may open; otherwise answers 503 and returns false. */
  admit(reply: FastifyReply, transport: StreamTransport): boolean {
    if (this.open < this.max) return true;
    this.metrics.streamsRefused.inc({ transport });
    void refuseUnavailable(reply, `this router replica holds its most open streams (${this.max})`);
    return false;
  }
}
