/**
 * Probe targets: what to probe for each instance, whether it came from the Consul catalog or
 * from `MONITOR_TARGETS`. Pure.
 *
 * Every target gets a TCP connect to its host and port. An HTTP target also gets a GET of its
 * health URL (`/health` for catalog instances, the given URL for `MONITOR_TARGETS`), and the
 * services that speak MCP (`mcp-*` and `router`) also get an MCP-level probe of `/mcp`.
 */
import { urlHost } from "@mcp-platform/shared";
import type { CatalogInstance, ConsulStatus } from "./consul-catalog";
import type { MonitorTarget } from "./env";

/** Where a target came from. */
export type TargetSource = "consul" | "static";

/** One instance to probe. */
export interface Target {
  /** Unique key: `consul:<node>/<service id>` or `static:<name>`. */
  readonly id: string;
  /** The service it belongs to: its name on the dashboard and its metric label. */
  readonly service: string;
  /** Instance id shown on the dashboard: Consul's service ID, or the static name. */
  readonly instance: string;
  readonly source: TargetSource;
  /** TCP connect target. */
  readonly host: string;
  readonly port: number;
  /** What is shown as the address: `host:port`, or the URL without credentials and query. */
  readonly endpoint: string;
  /** Health URL to GET; absent for `tcp://` targets. */
  readonly healthUrl?: string;
  /** Streamable HTTP endpoint for the MCP-level probe; only for MCP services. */
  readonly mcpUrl?: string;
  /** Consul's own view of the instance's checks; catalog instances only. */
  readonly consulStatus?: ConsulStatus;
}

/** Path probed over HTTP on catalog instances: every service in this platform serves it. */
export const HEALTH_PATH = "/health";

/** Path of the Streamable HTTP endpoint on MCP services and routers. */
export const MCP_PATH = "/mcp";

/** The gateway's service name (in Consul, and as a `MONITOR_TARGETS` name). */
export const ROUTER_SERVICE = "router";

/** Whether `service` speaks MCP and so gets the MCP-level probe: `mcp-*` services and `router`. */
export function isMcpService(service: string): boolean {
  return service === ROUTER_SERVICE || service.startsWith("mcp-");
}

/** The target of one catalog instance. */
export function consulTarget(instance: CatalogInstance): Target {
  const base = `http://${urlHost(instance.address)}:${instance.port}`;
  return {
    id: `consul:${instance.node}/${instance.id}`,
    service: instance.service,
    instance: instance.id,
    source: "consul",
    host: instance.address,
    port: instance.port,
    endpoint: `${urlHost(instance.address)}:${instance.port}`,
    healthUrl: `${base}${HEALTH_PATH}`,
    ...(isMcpService(instance.service) ? { mcpUrl: `${base}${MCP_PATH}` } : {}),
    consulStatus: instance.status,
  };
}

/**
 * The target of one `MONITOR_TARGETS` entry. An MCP service given by an http(s) URL gets the MCP
 * probe at `/mcp` of the same origin.
 */
export function staticTarget(entry: MonitorTarget): Target {
  const url = new URL(entry.url);
  const tls = url.protocol === "https:";
  const port = url.port === "" ? (tls ? 443 : 80) : Number(url.port);
  // URL keeps IPv6 hosts bracketed; net.connect wants them bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const service = entry.service ?? entry.name;
  const common = {
    id: `static:${entry.name}`,
    service,
    instance: entry.name,
    source: "static" as const,
  };
  if (url.protocol === "tcp:") return { ...common, host, port, endpoint: `tcp://${url.host}` };
  return {
    ...common,
    host,
    port,
    endpoint: `${url.protocol}//${url.host}${url.pathname}`,
    healthUrl: entry.url,
    ...(isMcpService(service) ? { mcpUrl: `${url.origin}${MCP_PATH}` } : {}),
  };
}

/**
 * The `MONITOR_TARGETS` entry that probes Consul itself through its HTTP API, added when the
 * monitor discovers from Consul and the list has no `consul` target of its own.
 */
export function consulSelfTarget(consulAddress: string): MonitorTarget {
  return { name: "consul", url: `${consulAddress}/v1/status/leader` };
}

/** The static targets: `MONITOR_TARGETS`, plus Consul itself when discovering from it. */
export function staticTargets(
  entries: readonly MonitorTarget[],
  consulAddress: string | undefined,
): Target[] {
  const all = [...entries];
  const ownConsul = all.some(
    (entry) => (entry.service ?? entry.name) === "consul" || entry.name === "consul",
  );
  if (consulAddress !== undefined && !ownConsul) {
    all.push(consulSelfTarget(consulAddress));
  }
  return all.map(staticTarget);
}
