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
 */
import type { FastifyInstance } from "fastify";

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

  /** Begins the drain and resolves once traffic has stopped (or `maxMs` passed). */
  async settle(): Promise<void> {
    this.active = true;
    const started = Date.now();
    this.last = started;
    for (;;) {
      const now = Date.now();
      const quietFor = now - this.last;
      if (quietFor >= this.options.quietMs || now - started >= this.options.maxMs) return;
      const wait = Math.min(this.options.quietMs - quietFor, this.options.maxMs - (now - started));
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /**
   * Installs the gate on `app`: requests are tracked, responses close their connection while
   * draining, and `app.close()` settles first.
   *
   * `app.close` is wrapped because the shared `runService` calls it right after marking the
   * service not ready; a drain step in `runService` would replace this wrapper (see the report
   * of the router issue).
   */
  install(app: FastifyInstance): void {
    app.addHook("onRequest", async (request) => this.touch(request.url));
    app.addHook("onSend", async (_request, reply) => {
      if (this.active) void reply.header("connection", "close");
    });
    const close = app.close.bind(app);
    const gated = async () => {
      await this.settle();
      await close();
    };
    (app as { close: unknown }).close = gated;
  }
}
