/**
 * Talking to the other router replicas. Two things need the replica that holds some state:
 *
 * - a legacy SSE session's messages go to the replica holding its stream (the stream's owner is
 *   sealed into the session's endpoint URL, so any replica knows where to send a POST);
 * - a client's cancellation reaches whichever replica the balancer picked, while the call runs
 *   on the one that received it; the cancellation is offered to every peer.
 *
 * Peers authenticate with a short-lived token sealed with the shared session key
 * (`x-router-peer`), so the internal endpoints are closed to clients even though the balancer
 * forwards every path.
 */
import { Agent, request as httpRequest } from "node:http";
import { connect } from "node:net";
import type { IncomingHttpHeaders } from "node:http";
import type { Logger } from "@mcp-platform/shared";
import { errorText } from "@mcp-platform/shared";
import type { RouterMetrics } from "../metrics";
import type { SessionSealer } from "../session-token";
import { failedBeforeSending } from "../upstream/upstream-transport";

/** Header carrying the peer token. */
export const PEER_HEADER = "x-router-peer";
/** How old a peer token may be when it arrives. */
const PEER_TOKEN_MAX_AGE_S = 300;
/** A sender mints a new token after this long. */
const PEER_TOKEN_REFRESH_MS = 60_000;
/** Timeout of one internal request. */
const PEER_TIMEOUT_MS = 10_000;
/** How long the check whether a peer still takes connections waits for one. */
const PEER_GONE_CHECK_MS = 1_000;

/**
 * How long a replica that left discovery still counts as a peer: a replica shutting down
 * deregisters first, then drains (at most `SHUTDOWN_TIMEOUT_MS`), still holding its legacy SSE
 * streams and running calls, whose messages and cancellations must still reach it.
 */
export const DEPARTED_PEER_MS = 120_000;

/** Paths of the internal endpoints. */
export const INTERNAL_PATHS = {
  cancel: "/internal/v1/cancel",
  sseMessage: "/internal/v1/sse-message",
} as const;

/** An internal request's answer. */
export interface PeerAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/**
 * The peer is gone: it could not be reached at all, or it went away during the request and now
 * refuses connections. Whatever it held (a legacy SSE stream) is gone with it.
 */
export class PeerUnreachableError extends Error {}

/**
 * Whether the host of `url` refuses a fresh connection (or cannot be routed to): after a request
 * that failed once sent, this tells a peer that died (a router killed a moment ago) from one that
 * is up but failed. A connection accepted, or no answer within `PEER_GONE_CHECK_MS`, is not proof
 * of a death.
 */
export function refusesConnections(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({
      host: hostname.replace(/^\[(.*)\]$/, "$1"),
      port: Number(port || 80),
      timeout: PEER_GONE_CHECK_MS,
    });
    const settle = (refused: boolean) => {
      socket.destroy();
      resolve(refused);
    };
    socket.once("connect", () => settle(false));
    socket.once("timeout", () => settle(false));
    socket.once("error", (error) => settle(failedBeforeSending(error)));
  });
}

/** The replica's view of its peers. */
export class Peers {
  private peers: readonly string[] = [];
  private self = "";
  private token: { value: string; at: number } | undefined;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });

  /** Replicas that left discovery, and when (`DEPARTED_PEER_MS`). */
  private readonly departed = new Map<string, number>();

  constructor(
    private readonly options: {
      sealer: SessionSealer;
      logger: Logger;
      metrics: RouterMetrics;
      /** Clock (ms), for tests. */
      now?: () => number;
    },
  ) {}

  /** This replica's base URL, as peers reach it. */
  get selfUrl(): string {
    return this.self;
  }

  set selfUrl(url: string) {
    this.self = url;
  }

  /** Replaces the peer list (discovery). */
  update(urls: readonly string[]): void {
    const now = this.now();
    for (const url of this.peers) if (!urls.includes(url)) this.departed.set(url, now);
    for (const url of urls) this.departed.delete(url);
    this.peers = urls;
  }

  /**
   * Every peer except this replica: those discovery lists, and those that left it less than
   * `DEPARTED_PEER_MS` ago. Nothing else is ever sent a peer's request (an address a client's
   * session names may since belong to something that is no router).
   */
  others(): string[] {
    const now = this.now();
    for (const [url, at] of this.departed) if (now - at > DEPARTED_PEER_MS) this.departed.delete(url);
    return [...this.peers, ...this.departed.keys()].filter((url) => url !== this.self);
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Whether a request's peer header is a valid, fresh peer token. */
  verify(header: string | string[] | undefined): boolean {
    if (typeof header !== "string") return false;
    const payload = this.options.sealer.open(header);
    return payload?.t === "peer" && this.options.sealer.ageOf(payload) <= PEER_TOKEN_MAX_AGE_S;
  }

  /** Offers a cancellation to every peer; resolves once all have answered or failed. */
  async broadcastCancel(body: Record<string, unknown>): Promise<void> {
    await Promise.all(
      this.others().map(async (peer) => {
        try {
          const answer = await this.post(`${peer}${INTERNAL_PATHS.cancel}`, JSON.stringify(body));
          this.options.metrics.peerForwards.inc({
            kind: "cancel",
            outcome: answer.status === 202 ? "delivered" : "not_found",
          });
        } catch (error) {
          this.options.metrics.peerForwards.inc({ kind: "cancel", outcome: "failed" });
          this.options.logger.debug({ peer, err: errorText(error) }, "cannot offer a cancellation to a peer");
        }
      }),
    );
  }

  /** POSTs `body` (JSON text) to a peer's internal endpoint `url`. */
  async post(url: string, body: string): Promise<PeerAnswer> {
    return new Promise<PeerAnswer>((resolve, reject) => {
      const req = httpRequest(
        url,
        {
          method: "POST",
          agent: this.agent,
          timeout: PEER_TIMEOUT_MS,
          headers: {
            "content-type": "application/json",
            "content-length": String(Buffer.byteLength(body)),
            [PEER_HEADER]: this.peerToken(),
          },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          res.on("end", () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: text }));
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error("peer request timed out")));
      req.on("error", (error) => {
        if (failedBeforeSending(error)) return reject(new PeerUnreachableError(errorText(error)));
        // Sent, then lost: a peer that died meanwhile (its stream with it) now refuses connections.
        void refusesConnections(url).then((gone) =>
          reject(gone ? new PeerUnreachableError(`${errorText(error)}; the peer is gone`) : error),
        );
      });
      req.end(body);
    });
  }

  /** Closes idle connections to peers. */
  close(): void {
    this.agent.destroy();
  }

  private peerToken(): string {
    const now = Date.now();
    if (this.token === undefined || now - this.token.at > PEER_TOKEN_REFRESH_MS) {
      this.token = { value: this.options.sealer.seal({ t: "peer" }).token, at: now };
    }
    return this.token.value;
  }
}
