/**
 * A test double of the Consul catalog and health HTTP API, as the router's and the
 * network-monitor's discovery read it: a real HTTP server on 127.0.0.1:0 serving
 *
 * - `GET /v1/catalog/services` and `GET /v1/health/service/<name>` (with the `passing` filter),
 *   both with blocking queries: a read whose `index` is the current `X-Consul-Index` is held
 *   until something changes (or the double closes);
 * - `GET /v1/status/leader`, so the monitor's probe of Consul itself passes.
 *
 * `failWith(status)` makes every catalog and health read fail, as an unreachable or broken
 * Consul would; `failWith("endless")` answers them 200 with a body that never ends. Every request is recorded and emitted, so tests wait on events, never sleep.
 * (The agent's registration API has its own double: consul-double.ts.)
 */
import { EventEmitter, once } from "node:events";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One instance as the test declares it. */
export interface CatalogDoubleInstance {
  readonly address: string;
  readonly port: number;
  /** Service instance id; `<service>-<position>` by default. */
  readonly id?: string;
  /** Node name; `node-1` by default. */
  readonly node?: string;
  /** Status of its one service check; `passing` by default. */
  readonly status?: "passing" | "warning" | "critical";
}

/** One request the double received. */
export interface CatalogRequest {
  readonly path: string;
  /** The raw query string without `?`. */
  readonly query: string;
  /** The same, parsed. */
  readonly params: URLSearchParams;
}

const HEALTH_PATH = /^\/v1\/health\/service\/([^/]+)$/;

/** A running Consul catalog double. */
export class ConsulCatalogDouble extends EventEmitter<{ request: [CatalogRequest]; held: [CatalogRequest] }> {
  /** Every request received, in arrival order. */
  readonly requests: CatalogRequest[] = [];
  /** Base URL to use as CONSUL_HTTP_ADDR. */
  readonly url: string;
  /** The catalog's current `X-Consul-Index`. */
  index = 1;
  private readonly services = new Map<string, readonly CatalogDoubleInstance[]>();
  /** Held blocking reads, each answered with what is current when released. */
  private readonly held = new Set<{ response: ServerResponse; answer: () => void }>();
  private failure: number | "endless" | undefined;
  /** Bytes written so far into endless answers. */
  endlessBytes = 0;

  private constructor(private readonly server: Server) {
    super();
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** Starts a double with an empty catalog. */
  static async start(): Promise<ConsulCatalogDouble> {
    const slot: { double?: ConsulCatalogDouble } = {};
    const server = createServer((request, response) => slot.double?.handle(request, response));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    slot.double = new ConsulCatalogDouble(server);
    return slot.double;
  }

  /** Blocking queries currently held. */
  get heldQueries(): number {
    return this.held.size;
  }

  /** Registers (or replaces) a service's instances; bumps the index and releases held queries. */
  setService(name: string, instances: readonly CatalogDoubleInstance[]): void {
    this.services.set(name, instances);
    this.changed();
  }

  /** Deregisters a service; bumps the index and releases held queries. */
  removeService(name: string): void {
    this.services.delete(name);
    this.changed();
  }

  /**
   * From now on, answer catalog and health reads with `status` (or normally again with
   * `undefined`); held blocking queries get the failure at once, as when Consul loses its leader.
   */
  failWith(status: number | "endless" | undefined): void {
    this.failure = status;
    if (status !== undefined) this.release();
  }

  /** Resolves once a blocking query is being held (already or later). */
  async waitForHeldQuery(): Promise<void> {
    if (this.held.size > 0) return;
    await once(this, "held");
  }

  /** Resolves once `count` requests to `path` (or matching a predicate) have arrived. */
  async waitForRequests(match: string | ((request: CatalogRequest) => boolean), count = 1): Promise<void> {
    const matches = typeof match === "string" ? (r: CatalogRequest) => r.path === match : match;
    while (this.requests.filter(matches).length < count) await once(this, "request");
  }

  /** Stops listening and drops every connection, held queries included. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private changed(): void {
    this.index++;
    this.release();
  }

  private release(): void {
    for (const entry of this.held) entry.answer();
    this.held.clear();
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? "/", this.url);
    const call = { path: url.pathname, query: url.search.replace(/^\?/, ""), params: url.searchParams };
    this.requests.push(call);
    this.emit("request", call);
    if (url.pathname === "/v1/status/leader") {
      json(response, '"127.0.0.1:8300"');
      return;
    }
    const health = HEALTH_PATH.exec(url.pathname);
    if (url.pathname !== "/v1/catalog/services" && health === null) {
      response.writeHead(404).end();
      return;
    }
    const answer = () => {
      if (this.failure === "endless") {
        this.writeEndlessly(response);
        return;
      }
      if (this.failure !== undefined) {
        response
          .writeHead(this.failure, { "content-type": "text/plain" })
          .end("rpc error: No cluster leader");
        return;
      }
      const body =
        health === null
          ? Object.fromEntries([...this.services.keys()].map((name) => [name, []]))
          : this.healthOf(decodeURIComponent(health[1] ?? ""), url.searchParams.get("passing") === "true");
      json(response, JSON.stringify(body), { "x-consul-index": String(this.index) });
    };
    const index = Number(url.searchParams.get("index") ?? "0");
    if (this.failure === undefined && index >= this.index) {
      const entry = { response, answer };
      this.held.add(entry);
      response.on("close", () => this.held.delete(entry));
      this.emit("held", call);
      return;
    }
    answer();
  }

  /** A 200 JSON answer that never ends, written as fast as the reader takes it. */
  private writeEndlessly(response: ServerResponse): void {
    response.writeHead(200, { "content-type": "application/json", "x-consul-index": String(this.index) });
    response.write("[");
    const chunk = Buffer.from(`${"{},".repeat(21_845)}`);
    const more = () => {
      while (!response.destroyed && response.write(chunk)) this.endlessBytes += chunk.length;
      if (!response.destroyed) response.once("drain", more);
    };
    more();
  }

  /** `/v1/health/service/<name>` as Consul returns it (trimmed to what matters). */
  private healthOf(service: string, passingOnly: boolean): unknown[] {
    return (this.services.get(service) ?? [])
      .map((instance, position) => ({ instance, id: instance.id ?? `${service}-${position}` }))
      .filter(({ instance }) => !passingOnly || (instance.status ?? "passing") === "passing")
      .map(({ instance, id }) => {
        const node = instance.node ?? "node-1";
        return {
          Node: { ID: "", Node: node, Address: "127.0.0.1", Datacenter: "dc1" },
          Service: { ID: id, Service: service, Tags: [], Address: instance.address, Port: instance.port },
          Checks: [
            {
              Node: node,
              CheckID: "serfHealth",
              Name: "Serf Health Status",
              Status: "passing",
              ServiceID: "",
            },
            {
              Node: node,
              CheckID: `service:${id}`,
              Name: `Service '${service}' check`,
              Status: instance.status ?? "passing",
              ServiceID: id,
            },
          ],
        };
      });
  }
}

function json(response: ServerResponse, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(200, { "content-type": "application/json", ...headers }).end(body);
}
