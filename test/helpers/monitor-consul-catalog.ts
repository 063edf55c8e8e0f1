/**
 * A test double of the Consul catalog and health HTTP API, as the network-monitor's discovery
 * reads it: a real HTTP server on 127.0.0.1:0 serving
 *
 * - `GET /v1/catalog/services`, with blocking queries: a request whose `index` is the current
 *   `X-Consul-Index` is held until the catalog changes (or the double closes);
 * - `GET /v1/health/service/<name>`, the instances with their node and checks;
 * - `GET /v1/status/leader`, so the monitor's probe of Consul itself passes.
 *
 * `failWith(status)` makes every catalog and health read fail, as an unreachable or broken
 * Consul would. Every request is recorded and emitted, so tests wait on events, never sleep.
 */
import { EventEmitter, once } from "node:events";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One instance as the test declares it. */
export interface CatalogDoubleInstance {
  readonly id: string;
  readonly address: string;
  readonly port: number;
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
}

/** A running Consul catalog double. */
export class ConsulCatalogDouble extends EventEmitter<{ request: [CatalogRequest]; held: [CatalogRequest] }> {
  /** Every request received, in arrival order. */
  readonly requests: CatalogRequest[] = [];
  /** Base URL to use as CONSUL_HTTP_ADDR. */
  readonly url: string;
  /** The catalog's current `X-Consul-Index`. */
  index = 1;
  private readonly services = new Map<string, readonly CatalogDoubleInstance[]>();
  private readonly held = new Set<ServerResponse>();
  private failure: number | undefined;

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

  /** Blocking catalog queries currently held. */
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
  failWith(status: number | undefined): void {
    this.failure = status;
    if (status === undefined) return;
    for (const response of this.held) this.sendFailure(response, status);
    this.held.clear();
  }

  /** Resolves once a blocking query is being held (already or later). */
  async waitForHeldQuery(): Promise<void> {
    if (this.held.size > 0) return;
    await once(this, "held");
  }

  /** Resolves once `count` requests to `path` have arrived. */
  async waitForRequests(path: string, count: number): Promise<void> {
    while (this.requests.filter((request) => request.path === path).length < count) {
      await once(this, "request");
    }
  }

  /** Stops listening and drops every connection, held queries included. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private changed(): void {
    this.index++;
    for (const response of this.held) this.sendCatalog(response);
    this.held.clear();
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? "/", this.url);
    const call = { path: url.pathname, query: url.search.replace(/^\?/, "") };
    this.requests.push(call);
    this.emit("request", call);
    if (url.pathname === "/v1/status/leader") {
      json(response, '"127.0.0.1:8300"');
      return;
    }
    if (this.failure !== undefined) {
      this.sendFailure(response, this.failure);
      return;
    }
    if (url.pathname === "/v1/catalog/services") {
      const index = Number(url.searchParams.get("index") ?? "0");
      if (index >= this.index) {
        this.held.add(response);
        response.on("close", () => this.held.delete(response));
        this.emit("held", call);
        return;
      }
      this.sendCatalog(response);
      return;
    }
    const health = /^\/v1\/health\/service\/([^/]+)$/.exec(url.pathname);
    if (health?.[1] !== undefined) {
      const name = decodeURIComponent(health[1]);
      json(
        response,
        JSON.stringify((this.services.get(name) ?? []).map((instance) => entry(name, instance))),
      );
      return;
    }
    response.writeHead(404).end();
  }

  private sendFailure(response: ServerResponse, status: number): void {
    response.writeHead(status, { "content-type": "text/plain" }).end("rpc error: No cluster leader");
  }

  private sendCatalog(response: ServerResponse): void {
    const body = Object.fromEntries([...this.services.keys()].map((name) => [name, []]));
    json(response, JSON.stringify(body), { "x-consul-index": String(this.index) });
  }
}

/** A `/v1/health/service/<name>` entry as Consul returns it (trimmed to what matters). */
function entry(service: string, instance: CatalogDoubleInstance): unknown {
  const node = instance.node ?? "node-1";
  return {
    Node: { ID: "", Node: node, Address: "127.0.0.1", Datacenter: "dc1" },
    Service: { ID: instance.id, Service: service, Tags: [], Address: instance.address, Port: instance.port },
    Checks: [
      { Node: node, CheckID: "serfHealth", Name: "Serf Health Status", Status: "passing", ServiceID: "" },
      {
        Node: node,
        CheckID: `service:${instance.id}`,
        Name: `Service '${service}' check`,
        Status: instance.status ?? "passing",
        ServiceID: instance.id,
      },
    ],
  };
}

function json(response: ServerResponse, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(200, { "content-type": "application/json", ...headers }).end(body);
}
