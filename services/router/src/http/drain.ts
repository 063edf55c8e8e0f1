/**
 * The router's drain on SIGTERM: keep serving, with readiness already false, until the balancers
 * have stopped sending requests, and only then close.
 *
 * Closing at once (fastify's `close()`) answers every request that still arrives on a kept-alive
 * connection with 503, and a request HAProxy sends on a connection the router is just closing
 * fails outright; a client sees either as a failed call. So, between the signal and the close,
 * every response carries `Connection: close` (the balancer opens a fresh connection for its next
 * request, which is still accepted), and the close waits until no MCP request has arrived for
 * `quietMs` (HAProxy marks the replica down after its health checks fail, Kubernetes removes the
 * pod's endpoint), at most `maxMs`. Then calls in flight are drained as before.
 *
 * The wait is a shutdown step of the app (`beforeClose`), so `runService` runs it after
 * readiness went false and the Consul entry is gone, within the shutdown budget.
 */
import type { FastifyInstance } from "fastify";
import type { ShutdownStep } from "@mcp-platform/shared";

/** Options of `DrainGate`. */
export interface DrainOptions {
  /** The close goes ahead once no request arrived for this long. */
  readonly quietMs: number;
  /** The close goes ahead after this long whatever the traffic. */
  readonly maxMs: number;
}

/** Paths that do not count as traffic: health checks and scrapes keep coming while draining. */
const OPERATIONAL = /^\/(health|metrics|info)(\/|$|\?)/;

/** Tracks traffic and holds the close until it has stopped. */
export class DrainGate {
  private last = Date.now();
  private active = false;

  constructor(private readonly options: DrainOptions) {}

  /** Whether the drain has begun: responses should close their connections. */
  get draining(): boolean {
    return this.active;
  }

  /** Records a request to `url` (operational paths are ignored). */
  touch(url: string): void {
    if (!OPERATIONAL.test(url)) this.last = Date.now();
  }

  /**
   * Begins the drain and resolves once traffic has stopped, `maxMs` passed, or `signal` (the
   * shutdown deadline) aborted.
   */
  async settle(signal?: AbortSignal): Promise<void> {
    this.active = true;
    const started = Date.now();
    this.last = started;
    while (signal?.aborted !== true) {
      const now = Date.now();
      const quietFor = now - this.last;
      if (quietFor >= this.options.quietMs || now - started >= this.options.maxMs) return;
      const wait = Math.min(this.options.quietMs - quietFor, this.options.maxMs - (now - started));
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          resolve();
        };
        const timer = setTimeout(done, wait);
        signal?.addEventListener("abort", done, { once: true });
      });
    }
  }

  /** The drain as a step of the graceful shutdown (the app's `beforeClose`). */
  readonly shutdownStep: ShutdownStep = { name: "drain", run: (signal) => this.settle(signal) };

  /** Installs the gate on `app`: requests are tracked, and responses close their connection while draining. */
  install(app: FastifyInstance): void {
    app.addHook("onRequest", async (request, reply) => {
      this.touch(request.url);
      // On the raw response, so that what a route writes itself carries it too (a `GET /sse` or
      // standalone stream opened while draining); a route answering later checks `draining`.
      if (this.active) reply.raw.setHeader("connection", "close");
    });
    app.addHook("onSend", async (_request, reply) => {
      if (this.active) void reply.header("connection", "close");
    });
  }
}
