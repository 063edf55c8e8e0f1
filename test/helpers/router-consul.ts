/**
 * A test double of the Consul HTTP API as the router's discovery reads it: a real HTTP server on
 * 127.0.0.1:0 serving `/v1/catalog/services` and `/v1/health/service/<name>` with blocking
 * queries (a read whose `index` is the current `X-Consul-Index` is held until something changes)
 * and the `passing` filter. `failWith(status)` makes every read fail, as an unreachable Consul
 * would. Requests are recorded and emitted, so tests wait on events, never sleep.
 */
import { EventEmitter, once } from "node:events";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One registered instance. */
export interface DoubleInstance {
  readonly address: string;
  readonly port: number;
  /** Its check's status; `passing` by default. */
  readonly status?: "passing" | "warning" | "critical";
}

/** One request the double received. */
export interface DoubleRequest {
  readonly path: string;
  readonly query: URLSearchParams;
}

/** A running Consul double. */
export class RouterConsulDouble extends EventEmitter<{ request: [DoubleRequest]; held: [DoubleRequest] }> {
  /** Every request, in arrival order. */
  readonly requests: DoubleRequest[] = [];
  readonly url: string;
  private index = 10;
  private readonly services = new Map<string, readonly DoubleInstance[]>();
  private readonly held = new Set<{ res: ServerResponse; answer: () => void }>();
  private failure: number | undefined;

  private constructor(private readonly server: Server) {
    super();
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** Starts a double with an empty catalog. */
  static async start(): Promise<RouterConsulDouble> {
    const slot: { double?: RouterConsulDouble } = {};
    const server = createServer((req, res) => slot.double?.handle(req, res));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    slot.double = new RouterConsulDouble(server);
    return slot.double;
  }

  /** Registers (or replaces) a service's instances and releases held reads. */
  setService(name: string, instances: readonly DoubleInstance[]): void {
    this.services.set(name, instances);
    this.changed();
  }

  /** Deregisters a service and releases held reads. */
  removeService(name: string): void {
    this.services.delete(name);
    this.changed();
  }

  /** Answers every read with `status` from now on (held ones at once), or normally again. */
  failWith(status: number | undefined): void {
    this.failure = status;
    if (status === undefined) return;
    for (const entry of this.held) entry.answer();
    this.held.clear();
  }

  /** Resolves once `count` requests matching `predicate` have arrived. */
  async waitForRequests(predicate: (r: DoubleRequest) => boolean, count = 1): Promise<void> {
    while (this.requests.filter(predicate).length < count) await once(this, "request");
  }

  /** Stops and drops every connection. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private changed(): void {
    this.index++;
    for (const entry of this.held) entry.answer();
    this.held.clear();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", this.url);
    const request = { path: url.pathname, query: url.searchParams };
    this.requests.push(request);
    this.emit("request", request);
    const health = /^\/v1\/health\/service\/([^/]+)$/.exec(url.pathname);
    const body = (): unknown => {
      if (url.pathname === "/v1/catalog/services") {
        return Object.fromEntries([...this.services.keys()].map((name) => [name, []]));
      }
      const name = decodeURIComponent(health?.[1] ?? "");
      const passingOnly = url.searchParams.get("passing") === "true";
      return (this.services.get(name) ?? [])
        .filter((i) => !passingOnly || (i.status ?? "passing") === "passing")
        .map((i, n) => ({
          Node: { Node: "node-1", Address: "127.0.0.1" },
          Service: { ID: `${name}-${n}`, Service: name, Address: i.address, Port: i.port },
          Checks: [{ Status: "passing" }, { Status: i.status ?? "passing" }],
        }));
    };
    if (url.pathname !== "/v1/catalog/services" && health === null) {
      res.writeHead(404).end();
      return;
    }
    const answer = () => {
      if (this.failure !== undefined) {
        res.writeHead(this.failure, { "content-type": "text/plain" }).end("No cluster leader");
        return;
      }
      res
        .writeHead(200, { "content-type": "application/json", "x-consul-index": String(this.index) })
        .end(JSON.stringify(body()));
    };
    const index = Number(url.searchParams.get("index") ?? "0");
    if (this.failure === undefined && index >= this.index) {
      const entry = { res, answer };
      this.held.add(entry);
      res.on("close", () => this.held.delete(entry));
      this.emit("held", request);
      return;
    }
    answer();
  }
}
