/**
 * Discovery: which MCP services exist and which of their instances may take requests, plus the
 * other router replicas (for forwarding cancellations).
 *
 * - With `CONSUL_HTTP_ADDR`: the catalog (`/v1/catalog/services`) names the `mcp-*` services;
 *   each one's passing instances come from the health API
 *   (`/v1/health/service/mcp-<id>?passing=true`), both followed with blocking queries. Peers are
 *   the passing instances of the router's own SERVICE_NAME.
 * - `ROUTER_STATIC_SERVICES` and `ROUTER_PEERS` are added to whatever Consul reports, and are the
 *   whole picture without Consul.
 *
 * While Consul cannot be reached the last-known-good view stays in place: a router that lost its
 * registry keeps routing to the instances it knew.
 */
import { EventEmitter } from "node:events";
import type { Logger } from "@mcp-platform/shared";
import { SERVICE_ID_PATTERN, urlHost } from "@mcp-platform/shared";
import { z } from "zod";
import type { WatchTiming } from "./consul-watch";
import { DEFAULT_WATCH_TIMING, watch } from "./consul-watch";

/** Consul names of MCP services start with this; the rest is the service id. */
export const MCP_SERVICE_PREFIX = "mcp-";

/** Service id → its instances' `/mcp` URLs, sorted; services in id order. */
export type ServiceMap = ReadonlyMap<string, readonly string[]>;

/** What discovery currently knows. */
export interface DiscoveryView {
  readonly services: ServiceMap;
  /** Base URLs of router replicas (this one included when Consul lists it). */
  readonly peers: readonly string[];
}

/** Events of a discovery. */
export interface DiscoveryEvents {
  /** The view changed (or was established); carries the whole new view. */
  changed: [view: DiscoveryView];
}

/** Options of `Discovery`. */
export interface DiscoveryOptions {
  readonly logger: Logger;
  /** `ROUTER_STATIC_SERVICES`. */
  readonly staticServices?: Readonly<Record<string, readonly string[]>>;
  /** `ROUTER_PEERS`. */
  readonly staticPeers?: readonly string[];
  /** Consul, when configured. */
  readonly consul?: {
    readonly address: string;
    readonly token?: string | undefined;
    /** The router's own Consul name, whose instances are the peers. */
    readonly selfName: string;
    readonly timing?: Partial<WatchTiming>;
  };
  /** Called on every failed Consul read (for a metric). */
  readonly onConsulError?: () => void;
}

/** `/v1/catalog/services`: name → tags. */
const CatalogSchema = z.record(z.string(), z.array(z.string()).nullable());

/** One `/v1/health/service/<name>` entry, trimmed to what routing needs. */
const HealthEntrySchema = z.object({
  Node: z.object({ Address: z.string() }),
  Service: z.object({ Address: z.string(), Port: z.number().int().min(1).max(65535) }),
  Checks: z
    .array(z.object({ Status: z.string() }))
    .nullable()
    .optional(),
});

/**
 * Base URLs (`http://host:port`) of the passing instances in a health answer, sorted. Instances
 * with a non-passing check are dropped even if the query's `passing` filter was ignored.
 */
export function parseHealth(body: unknown): string[] {
  return z
    .array(HealthEntrySchema)
    .parse(body)
    .filter((entry) => (entry.Checks ?? []).every((check) => check.Status === "passing"))
    .map((entry) => {
      const address = entry.Service.Address === "" ? entry.Node.Address : entry.Service.Address;
      return `http://${urlHost(address)}:${entry.Service.Port}`;
    })
    .sort();
}

/** The MCP service ids named by a catalog answer (`mcp-files` → `files`), sorted. */
export function mcpServiceIds(body: unknown): string[] {
  return Object.keys(CatalogSchema.parse(body))
    .filter((name) => name.startsWith(MCP_SERVICE_PREFIX))
    .map((name) => name.slice(MCP_SERVICE_PREFIX.length))
    .filter((id) => SERVICE_ID_PATTERN.test(id))
    .sort();
}

/** Follows static config and Consul; emits `changed` with the merged view. */
export class Discovery extends EventEmitter<DiscoveryEvents> {
  private readonly stopping = new AbortController();
  private readonly fromConsul = new Map<string, readonly string[]>();
  private readonly healthWatches = new Map<string, AbortController>();
  private consulPeers: readonly string[] = [];
  private consulReady: boolean;
  /** Services named by the catalog whose instances Consul has not reported yet. */
  private readonly awaitingFirst = new Set<string>();
  private catalogAnswered = false;
  private view: DiscoveryView | undefined;
  private lastDigest = "";
  private readonly loops: Promise<void>[] = [];
  private failing = false;

  constructor(private readonly options: DiscoveryOptions) {
    super();
    this.consulReady = options.consul === undefined;
  }

  /** The current view; undefined until Consul (when configured) has answered once. */
  get current(): DiscoveryView | undefined {
    return this.view;
  }

  /** Starts following; static config is published at once. */
  start(): void {
    const consul = this.options.consul;
    if (consul === undefined) {
      this.publish();
      return;
    }
    const timing = { ...DEFAULT_WATCH_TIMING, ...consul.timing };
    this.loops.push(
      watch({
        address: consul.address,
        token: consul.token,
        path: "/v1/catalog/services",
        parse: mcpServiceIds,
        onValue: (ids) => this.onCatalog(ids, timing),
        onError: (error, failures) => this.onError("catalog", error, failures),
        timing,
        signal: this.stopping.signal,
      }),
      watch({
        address: consul.address,
        token: consul.token,
        path: `/v1/health/service/${encodeURIComponent(consul.selfName)}?passing=true`,
        parse: parseHealth,
        onValue: (peers) => {
          this.consulPeers = peers;
          this.publish();
        },
        onError: (error, failures) => this.onError(consul.selfName, error, failures),
        timing,
        signal: this.stopping.signal,
      }),
    );
  }

  /** Stops every watch and waits for them. */
  async stop(): Promise<void> {
    this.stopping.abort();
    for (const controller of this.healthWatches.values()) controller.abort();
    await Promise.all(this.loops);
  }

  private onCatalog(ids: readonly string[], timing: WatchTiming): void {
    const consul = this.options.consul;
    if (consul === undefined) return;
    for (const [id, controller] of this.healthWatches) {
      if (ids.includes(id)) continue;
      controller.abort();
      this.healthWatches.delete(id);
      this.fromConsul.delete(id);
      this.awaitingFirst.delete(id);
    }
    for (const id of ids.filter((name) => !this.healthWatches.has(name))) {
      const controller = new AbortController();
      this.healthWatches.set(id, controller);
      this.awaitingFirst.add(id);
      this.loops.push(
        watch({
          address: consul.address,
          token: consul.token,
          path: `/v1/health/service/${MCP_SERVICE_PREFIX}${id}?passing=true`,
          parse: parseHealth,
          onValue: (bases) => {
            if (controller.signal.aborted) return;
            this.fromConsul.set(
              id,
              bases.map((base) => `${base}/mcp`),
            );
            this.awaitingFirst.delete(id);
            this.publish();
          },
          onError: (error, failures) => this.onError(`${MCP_SERVICE_PREFIX}${id}`, error, failures),
          timing,
          signal: AbortSignal.any([this.stopping.signal, controller.signal]),
        }),
      );
    }
    this.catalogAnswered = true;
    this.publish();
  }

  private onError(what: string, error: string, failures: number): void {
    this.options.onConsulError?.();
    // One warning per outage, then debug: a Consul down for an hour must not flood the log.
    const level = this.failing && failures > 1 ? "debug" : "warn";
    this.failing = true;
    this.options.logger[level](
      { consul: this.options.consul?.address, query: what, err: error, failures },
      "consul discovery failed; keeping the last-known instances",
    );
  }

  private publish(): void {
    // The first view waits for the catalog and every service it names, so a router never starts
    // with half a catalog; afterwards each answer is published as it comes.
    if (!this.consulReady && this.catalogAnswered && this.awaitingFirst.size === 0) this.consulReady = true;
    if (!this.consulReady) return;
    if (this.failing) {
      this.failing = false;
      this.options.logger.info({ consul: this.options.consul?.address }, "consul discovery recovered");
    }
    const merged = new Map<string, Set<string>>();
    const add = (id: string, urls: readonly string[]) => {
      const set = merged.get(id) ?? new Set<string>();
      for (const url of urls) set.add(url);
      merged.set(id, set);
    };
    for (const [id, urls] of Object.entries(this.options.staticServices ?? {})) add(id, urls);
    for (const [id, urls] of this.fromConsul) add(id, urls);
    const services = new Map(
      [...merged.entries()]
        .filter(([, urls]) => urls.size > 0)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([id, urls]): [string, readonly string[]] => [id, [...urls].sort()]),
    );
    const peers = [...new Set([...(this.options.staticPeers ?? []), ...this.consulPeers])].sort();
    const digest = JSON.stringify([[...services], peers]);
    if (digest === this.lastDigest) return;
    this.lastDigest = digest;
    this.view = { services, peers };
    this.emit("changed", this.view);
  }
}
