/**
 * The router's own Prometheus metrics, next to the shared HTTP ones. Labels are bounded: service
 * ids come from discovery (a handful), methods are MCP method names the router forwards (a fixed
 * set), outcomes and reasons are enums. Never instance addresses, session ids or tool names.
 */
import type { Registry } from "prom-client";
import { Counter, Gauge, Histogram } from "prom-client";

/** How a forwarded request ended. */
export type UpstreamOutcome = "ok" | "error" | "timeout" | "cancelled" | "unavailable" | "failed";

/** Methods the router forwards upstream, as a label; anything else is `other`. */
const FORWARDED_METHODS: ReadonlySet<string> = new Set([
  "tools/call",
  "tools/list",
  "prompts/get",
  "prompts/list",
  "resources/read",
  "resources/list",
  "resources/templates/list",
  "completion/complete",
  "ping",
]);

/** A bounded `method` label. */
export function methodLabel(method: string): string {
  return FORWARDED_METHODS.has(method) ? method : "other";
}

/** The router's metrics, registered on the app's registry. */
export class RouterMetrics {
  readonly upstreamRequests: Counter<"service" | "method" | "outcome">;
  readonly upstreamDuration: Histogram<"service" | "method">;
  readonly retries: Counter<"service" | "reason">;
  readonly ejections: Counter<"service">;
  readonly instances: Gauge<"service" | "state">;
  readonly catalogItems: Gauge<"kind">;
  readonly catalogRefreshes: Counter<"service" | "outcome">;
  readonly catalogCollisions: Counter<"kind">;
  readonly listChanged: Counter<"kind">;
  readonly sessions: Counter<"endpoint">;
  readonly streams: Gauge<"transport">;
  readonly streamsRefused: Counter<"transport">;
  readonly peerForwards: Counter<"kind" | "outcome">;
  readonly discoveryErrors: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.upstreamRequests = new Counter({
      name: "router_upstream_requests_total",
      help: "Requests forwarded to MCP services, by service, method and outcome.",
      labelNames: ["service", "method", "outcome"],
      registers,
    });
    this.upstreamDuration = new Histogram({
      name: "router_upstream_request_duration_seconds",
      help: "Duration of forwarded requests, retries included.",
      labelNames: ["service", "method"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.retries = new Counter({
      name: "router_upstream_retries_total",
      help: "Requests sent again on another instance because the first never reached a backend.",
      labelNames: ["service", "reason"],
      registers,
    });
    this.ejections = new Counter({
      name: "router_instance_ejections_total",
      help: "Instances ejected after consecutive transport failures.",
      labelNames: ["service"],
      registers,
    });
    this.instances = new Gauge({
      name: "router_instances",
      help: "Instances known per service, by state (available or ejected).",
      labelNames: ["service", "state"],
      registers,
    });
    this.catalogItems = new Gauge({
      name: "router_catalog_items",
      help: "Entries in the merged catalog, by kind (tools, prompts, resources, templates).",
      labelNames: ["kind"],
      registers,
    });
    this.catalogRefreshes = new Counter({
      name: "router_catalog_refreshes_total",
      help: "Listings of one service's tools, prompts and resources, by outcome.",
      labelNames: ["service", "outcome"],
      registers,
    });
    this.catalogCollisions = new Counter({
      name: "router_catalog_collisions_total",
      help: "Catalog entries dropped because an earlier entry had the same name or URI.",
      labelNames: ["kind"],
      registers,
    });
    this.listChanged = new Counter({
      name: "router_list_changed_total",
      help: "Changes of the merged catalog announced to clients, by list.",
      labelNames: ["kind"],
      registers,
    });
    this.sessions = new Counter({
      name: "router_sessions_total",
      help: "Sessions opened, by endpoint (gateway, sse, passthrough).",
      labelNames: ["endpoint"],
      registers,
    });
    this.streams = new Gauge({
      name: "router_open_streams",
      help: "Long-lived client streams held by this replica, by transport.",
      labelNames: ["transport"],
      registers,
    });
    this.streamsRefused = new Counter({
      name: "router_streams_refused_total",
      help: "Client streams refused with 503 because this replica held ROUTER_MAX_STREAMS, by transport.",
      labelNames: ["transport"],
      registers,
    });
    this.peerForwards = new Counter({
      name: "router_peer_forwards_total",
      help: "Messages forwarded to other replicas (SSE posts, cancellations), by outcome.",
      labelNames: ["kind", "outcome"],
      registers,
    });
    this.discoveryErrors = new Counter({
      name: "router_discovery_errors_total",
      help: "Failed Consul reads (the last-known instances stay in use).",
      registers,
    });
  }
}
