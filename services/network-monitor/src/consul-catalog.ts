/**
 * Parsing of the two Consul HTTP API answers discovery reads, and the blocking-query index rules.
 * Pure: `discovery.ts` does the I/O.
 *
 * - `GET /v1/catalog/services`: `{ "<name>": ["tag", ...], ... }`.
 * - `GET /v1/health/service/<name>`: every instance with its node and checks.
 *
 * https://developer.hashicorp.com/consul/api-docs/catalog#list-services
 * https://developer.hashicorp.com/consul/api-docs/health#list-service-instances-for-service
 * https://developer.hashicorp.com/consul/api-docs/features/blocking
 */
import { z } from "zod";

/**
 * Catalog services the monitor does not probe as instances. `consul` is Consul's own server
 * entry, whose port is the server RPC port (8300), not HTTP; Consul is probed through its HTTP
 * API instead (see `targets.ts` `consulSelfTarget`).
 */
export const IGNORED_CATALOG_SERVICES: ReadonlySet<string> = new Set(["consul"]);

/** The aggregated status of an instance's Consul checks, worst first. */
export const CONSUL_STATUSES = ["critical", "warning", "passing"] as const;

/** Consul's health status of one instance. */
export type ConsulStatus = (typeof CONSUL_STATUSES)[number];

/** `/v1/catalog/services`: service name → tags (`null` tags appear in old Consul versions). */
export const CatalogServicesSchema = z.record(z.string().min(1), z.array(z.string()).nullable());

/** One entry of `/v1/health/service/<name>`; unknown fields are ignored. */
export const HealthEntrySchema = z.object({
  Node: z.object({ Node: z.string(), Address: z.string() }),
  Service: z.object({
    ID: z.string().min(1),
    Service: z.string().min(1),
    Address: z.string(),
    Port: z.number().int().min(1).max(65535),
  }),
  Checks: z.array(z.object({ Status: z.string() })).nullable(),
});

/** One instance of a catalog service, as discovery reports it. */
export interface CatalogInstance {
  /** Service name, e.g. `mcp-files`. */
  readonly service: string;
  /** Consul's service ID, unique on its node. */
  readonly id: string;
  /** The node it is registered on. */
  readonly node: string;
  /** Address to probe: the service address, or the node's when the service has none. */
  readonly address: string;
  readonly port: number;
  /** The worst of its checks (service and node checks alike); `passing` with no checks. */
  readonly status: ConsulStatus;
}

/** The names in a `/v1/catalog/services` answer, sorted, without `IGNORED_CATALOG_SERVICES`. */
export function parseCatalogServices(body: unknown): string[] {
  const services = CatalogServicesSchema.parse(body);
  return Object.keys(services)
    .filter((name) => !IGNORED_CATALOG_SERVICES.has(name))
    .sort();
}

/**
 * The instances in a `/v1/health/service/<name>` answer, sorted by node then ID. An entry that is
 * not a usable instance (a registration without a port, say) is left out and reported to
 * `skipped` with its ID (when it has one) and why; the others stand. Throws when the answer is
 * not a list at all.
 */
export function parseHealthEntries(
  service: string,
  body: unknown,
  skipped: (id: string, reason: string) => void = () => undefined,
): CatalogInstance[] {
  const entries: z.infer<typeof HealthEntrySchema>[] = [];
  for (const item of z.array(z.unknown()).parse(body)) {
    const parsed = HealthEntrySchema.safeParse(item);
    if (parsed.success) {
      entries.push(parsed.data);
      continue;
    }
    const id = (item as { Service?: { ID?: unknown } } | null)?.Service?.ID;
    skipped(typeof id === "string" ? id : "(no ID)", z.prettifyError(parsed.error).replace(/\s+/g, " "));
  }
  return entries
    .map((entry) => ({
      service,
      id: entry.Service.ID,
      node: entry.Node.Node,
      address: entry.Service.Address === "" ? entry.Node.Address : entry.Service.Address,
      port: entry.Service.Port,
      status: worstStatus((entry.Checks ?? []).map((check) => check.Status)),
    }))
    .sort((a, b) => a.node.localeCompare(b.node) || a.id.localeCompare(b.id));
}

/** The worst of some check statuses; unknown statuses (e.g. `maintenance`) count as critical. */
export function worstStatus(statuses: readonly string[]): ConsulStatus {
  let worst: ConsulStatus = "passing";
  for (const status of statuses) {
    const known = (CONSUL_STATUSES as readonly string[]).includes(status)
      ? (status as ConsulStatus)
      : "critical";
    if (CONSUL_STATUSES.indexOf(known) < CONSUL_STATUSES.indexOf(worst)) worst = known;
  }
  return worst;
}

/**
 * The index for the next blocking query, from the previous one and the `X-Consul-Index` header,
 * following Consul's rules: a missing or invalid index, or one that went backwards (e.g. after a
 * snapshot restore), restarts from 0 (a non-blocking read); an index below 1 becomes 1, since 0
 * would make every query return at once.
 */
export function nextIndex(previous: number, header: string | undefined): number {
  if (header === undefined || !/^\d+$/.test(header)) return 0;
  const index = Number(header);
  if (!Number.isSafeInteger(index)) return 0;
  if (index < previous) return 0;
  return Math.max(1, index);
}
