/**
 * The answer to one Streamable HTTP POST on the merged catalog, written by the replica that
 * received the POST: a JSON body when every request in it is answered locally (`initialize`,
 * `ping`, the lists), an SSE stream when any is forwarded upstream, so progress notifications,
 * keep-alives and finally the responses flow on it while the call runs.
 *
 * Why not one SDK `StreamableHTTPServerTransport` per request: that transport keeps per-session
 * state in memory (initialization, stream mappings), which is exactly what the router must not
 * need, and its per-request Node↔web-stream conversion costs more than the rest of the router's
 * hot path. Messages are parsed and checked with the SDK's schemas before they get here; what
 * is left is the two-line SSE event format below and the JSON body.
 */
import type { ServerResponse } from "node:http";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";

/** Response headers of every SSE stream the router writes. */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache, no-transform",
  connection: "keep-alive",
  "x-accel-buffering": "no",
};

/** A JSON-RPC message as one SSE event. */
export function sseEvent(message: JSONRPCMessage): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}

/** An SSE comment: keeps idle connections open through balancers. */
export const SSE_KEEP_ALIVE = ": keepalive\n\n";

/** Options of `PostResponse`. */
export interface PostResponseOptions {
  /** Stream the answer as SSE (some request is forwarded) or send one JSON body. */
  readonly stream: boolean;
  /** How many responses complete the answer. */
  readonly expected: number;
  /** Echoed as `Mcp-Session-Id`. */
  readonly sessionId?: string;
  /** Interval of keep-alive comments on a stream. */
  readonly keepAliveMs: number;
  /** Close the connection after the answer (the replica is draining). */
  readonly closeConnection?: boolean;
}

/** Collects the responses to one POST and writes them as they are ready. */
export class PostResponse {
  private readonly bodies: JSONRPCMessage[] = [];
  private answered = 0;
  private keepAlive: NodeJS.Timeout | undefined;
  private done = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly options: PostResponseOptions,
  ) {
    if (!options.stream) return;
    res.writeHead(200, this.headers(SSE_HEADERS));
    this.keepAlive = setInterval(() => this.write(SSE_KEEP_ALIVE), options.keepAliveMs);
    this.keepAlive.unref();
    res.once("close", () => this.stop());
  }

  /** Sends a notification about a request of this POST (a stream only; JSON drops it). */
  notify(message: JSONRPCMessage): void {
    if (this.options.stream) this.write(sseEvent(message));
  }

  /**
   * Adds the response at `index` (request order), or records that the request gets none
   * (`undefined`: it was cancelled); the last one completes the answer.
   */
  respond(index: number, message: JSONRPCMessage | undefined): void {
    if (this.done) return;
    this.answered++;
    if (message !== undefined) {
      if (this.options.stream) this.write(sseEvent(message));
      else this.bodies[index] = message;
    }
    if (this.answered < this.options.expected) return;
    this.stop();
    if (this.options.stream) {
      this.res.end();
      return;
    }
    const bodies = this.bodies.filter((body) => body !== undefined);
    if (bodies.length === 0) {
      this.res.writeHead(202, this.headers({})).end();
      return;
    }
    const body = JSON.stringify(this.options.expected === 1 ? bodies[0] : bodies);
    this.res
      .writeHead(
        200,
        this.headers({
          "content-type": "application/json",
          "content-length": String(Buffer.byteLength(body)),
        }),
      )
      .end(body);
  }

  private headers(base: Readonly<Record<string, string>>): Record<string, string> {
    const headers: Record<string, string> = { ...base };
    if (this.options.sessionId !== undefined) headers["mcp-session-id"] = this.options.sessionId;
    if (this.options.closeConnection === true) headers.connection = "close";
    return headers;
  }

  private write(text: string): void {
    if (!this.res.writableEnded && !this.res.destroyed) this.res.write(text);
  }

  private stop(): void {
    this.done = true;
    clearInterval(this.keepAlive);
  }
}
