/**
 * The plan of a local run (`npm run local`, the e2e tests, the gateway bench): which processes
 * to start on loopback, on which ports, with which environment, and the HAProxy config in front
 * of them. Pure: the stack file's topology in, a plan out. `launcher.ts` carries it out.
 *
 * Everything comes from the same topology the Docker and EKS targets use (DESIGN
 * "Configuration": one source of truth), adapted to one machine: every process binds
 * 127.0.0.1, each MCP service instance gets its own port (HAProxy's per-service frontends keep
 * the catalog's ports), there is no Consul (routers get `ROUTER_STATIC_SERVICES`), and volumes
 * become directories under the run's work directory.
 */
import { join } from "node:path";
import { renderHaproxyConfig } from "../../infra/haproxy";
import type { CatalogEntry, ComponentSpec, Topology } from "../../infra/topology";
import { component, mcpServerEnv } from "../../infra/topology";

/** What to run. */
export interface PlanOptions {
  /** Router replicas; the topology's count when unset. */
  readonly routers?: number;
  /** Catalog ids of the MCP services to run; all when unset. */
  readonly services?: readonly string[];
  /**
   * Instances per MCP service; each service's replicas when unset. A `singleton` (one writer of
   * its data, such as `memory`) runs one whatever this says, unless `replicateSingletons`.
   */
  readonly instances?: number;
  /**
   * Tests of routing across instances only: singletons get `instances` instances too, each with
   * a volume of its own (their data is not shared, so no two write one file).
   */
  readonly replicateSingletons?: boolean;
  /** Whether to run the network monitor. */
  readonly monitor?: boolean;
  /** Log level of every service (the launcher needs info or more verbose). */
  readonly logLevel?: string;
  /** Extra router environment (e.g. `ROUTER_AUTH_TOKENS`). */
  readonly routerEnv?: Readonly<Record<string, string>>;
}

/** Ports chosen for the run. */
export interface PlanPorts {
  readonly gateway: number;
  readonly stats: number;
  readonly monitor: number;
  /** HAProxy's direct frontend per service id. */
  readonly services: Readonly<Record<string, number>>;
  /** One per router replica. */
  readonly routers: readonly number[];
  /** Per service id, one per instance. */
  readonly instances: Readonly<Record<string, readonly number[]>>;
}

/** The kinds of process a run has. */
export type ProcessKind = "router" | "mcp-server" | "network-monitor" | "haproxy";

/** One process to start. */
export interface ProcessPlan {
  /** Unique name: `router-1`, `mcp-everything-2`, `network-monitor`, `haproxy`. */
  readonly name: string;
  readonly kind: ProcessKind;
  /** Catalog id, for MCP service instances. */
  readonly service?: string;
  readonly port: number;
  /** Environment (services) or arguments (haproxy) of the process. */
  readonly env: Readonly<Record<string, string>>;
}

/** A whole local run. */
export interface LocalPlan {
  readonly processes: readonly ProcessPlan[];
  readonly haproxyConfig: string;
  /** Directories to create before starting (service volumes). */
  readonly directories: readonly string[];
  /** Services left out, with why (e.g. a secret that cannot be supplied). */
  readonly skipped: readonly { readonly service: string; readonly reason: string }[];
  readonly gatewayUrl: string;
}

/** Where the services' npm stdio servers are installed (dev dependencies of the repo). */
export function binPath(root: string, bin: string): string {
  return join(root, "node_modules", ".bin", bin);
}

/** The catalog entries to run, in catalog order; throws on an unknown id. */
export function selectedCatalog(topology: Topology, ids: readonly string[] | undefined): CatalogEntry[] {
  if (ids === undefined) return [...topology.catalog];
  for (const id of ids) {
    if (!topology.catalog.some((entry) => entry.id === id)) {
      throw new Error(
        `unknown service "${id}"; the catalog has ${topology.catalog.map((e) => e.id).join(", ")}`,
      );
    }
  }
  return topology.catalog.filter((entry) => ids.includes(entry.id));
}

/** Rewrites a container path under `mountPath` to the same path under `dir`. */
function localPath(value: string, mountPath: string, dir: string): string {
  return value === mountPath || value.startsWith(`${mountPath}/`)
    ? `${dir}${value.slice(mountPath.length)}`
    : value;
}

/**
 * How many instances of service `id` (component `spec`) a run starts: `options.instances`, else
 * the component's replicas; a singleton runs one (with a note saying so when more were asked),
 * unless `replicateSingletons`.
 */
export function instanceCount(
  id: string,
  spec: ComponentSpec,
  options: Pick<PlanOptions, "instances" | "replicateSingletons">,
): { replicas: number; note?: string } {
  const replicas = options.instances ?? spec.replicas;
  if (spec.singleton !== true || replicas <= 1 || options.replicateSingletons === true) return { replicas };
  return { replicas: 1, note: `${id} is a singleton (one writer of its data): it runs 1 instance` };
}

/** The environment of one MCP service instance. */
function mcpInstanceEnv(
  spec: ComponentSpec,
  entry: CatalogEntry,
  options: {
    root: string;
    workDir: string;
    port: number;
    /** The instance's position in its service, from 0. */
    index: number;
    logLevel: string;
    secrets: NodeJS.ProcessEnv;
    /** The run's gateway origins, which the routers allow too (not the config's port-3000 ones). */
    allowedOrigins: readonly string[];
  },
): { env: Record<string, string>; directory?: string } | { skip: string } {
  // Instances share their service's volume, as in the stacks; a singleton's replicas (tests
  // only) each get their own, since it is one writer's.
  const own = spec.singleton === true && options.index > 0 ? `-${options.index + 1}` : "";
  const dir = spec.volume === undefined ? undefined : join(options.workDir, `${entry.id}-data${own}`);
  const local = (value: string) =>
    spec.volume === undefined || dir === undefined ? value : localPath(value, spec.volume.mountPath, dir);
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(spec.env)) {
    if (name === "CONSUL_HTTP_ADDR" || name === "MCP_SERVER") continue;
    env[name] = local(value);
  }
  for (const [name, ref] of Object.entries(spec.secretEnv)) {
    const value = options.secrets[name];
    if (value !== undefined && value !== "") env[name] = value;
    else if (ref.whenMissing === "fail")
      return { skip: `needs ${name} (secret ${ref.key}) in the environment` };
  }
  const server = mcpServerEnv(entry.toolSet);
  if (server !== undefined && entry.toolSet.kind === "stdio") {
    const parsed = JSON.parse(server) as { command: string; args: string[]; env?: Record<string, string> };
    const localServer = {
      command: binPath(options.root, parsed.command),
      args: parsed.args.map(local),
      ...(parsed.env === undefined
        ? {}
        : { env: Object.fromEntries(Object.entries(parsed.env).map(([k, v]) => [k, local(v)])) }),
    };
    env.MCP_SERVER = JSON.stringify(localServer);
  }
  Object.assign(env, {
    HOST: "127.0.0.1",
    PORT: String(options.port),
    LOG_LEVEL: options.logLevel,
    MCP_ALLOWED_ORIGINS: options.allowedOrigins.join(","),
  });
  return dir === undefined ? { env } : { env, directory: dir };
}

/** Derives the plan of a local run. */
export function planLocalRun(
  topology: Topology,
  options: PlanOptions & {
    readonly root: string;
    readonly workDir: string;
    readonly ports: PlanPorts;
    readonly sessionKey: string;
    /** Where secrets for services come from (the launcher's environment). */
    readonly secrets?: NodeJS.ProcessEnv;
  },
): LocalPlan {
  const logLevel = options.logLevel ?? "info";
  const { ports } = options;
  const processes: ProcessPlan[] = [];
  const directories: string[] = [];
  const skipped: { service: string; reason: string }[] = [];
  const staticServices: Record<string, string[]> = {};
  const haproxyServers: Record<string, string[]> = {};
  const gatewayOrigins = [`http://127.0.0.1:${ports.gateway}`, `http://localhost:${ports.gateway}`];

  for (const entry of selectedCatalog(topology, options.services)) {
    const spec = component(topology, entry.component);
    const instancePorts = ports.instances[entry.id] ?? [];
    const planned: ProcessPlan[] = [];
    let skip: string | undefined;
    instancePorts.forEach((port, index) => {
      const result = mcpInstanceEnv(spec, entry, {
        root: options.root,
        workDir: options.workDir,
        port,
        index,
        logLevel,
        secrets: options.secrets ?? {},
        allowedOrigins: gatewayOrigins,
      });
      if ("skip" in result) {
        skip = result.skip;
        return;
      }
      if (result.directory !== undefined && !directories.includes(result.directory)) {
        directories.push(result.directory);
      }
      planned.push({
        name: `${entry.component}-${index + 1}`,
        kind: "mcp-server",
        service: entry.id,
        port,
        env: result.env,
      });
    });
    if (skip !== undefined) {
      skipped.push({ service: entry.id, reason: skip });
      continue;
    }
    processes.push(...planned);
    staticServices[entry.id] = instancePorts.map((port) => `http://127.0.0.1:${port}/mcp`);
    haproxyServers[entry.component] = instancePorts.map((port) => `127.0.0.1:${port}`);
  }

  const routerUrls = ports.routers.map((port) => `http://127.0.0.1:${port}`);
  ports.routers.forEach((port, index) => {
    processes.push({
      name: `router-${index + 1}`,
      kind: "router",
      port,
      env: {
        HOST: "127.0.0.1",
        PORT: String(port),
        SERVICE_NAME: "router",
        LOG_LEVEL: logLevel,
        ROUTER_STATIC_SERVICES: JSON.stringify(staticServices),
        ROUTER_PEERS: routerUrls.join(","),
        ROUTER_SESSION_KEY: options.sessionKey,
        MCP_ALLOWED_ORIGINS: gatewayOrigins.join(","),
        ...options.routerEnv,
      },
    });
  });
  haproxyServers.router = ports.routers.map((port) => `127.0.0.1:${port}`);

  if (options.monitor ?? true) {
    const monitorSpec = component(topology, "network-monitor");
    // Each process is an instance of its service (as Consul would list it), so the dashboard
    // groups the replicas and the routers and mcp-servers get the MCP probe too.
    const targets = [
      { name: "haproxy", url: `http://127.0.0.1:${ports.stats}/healthz` },
      ...processes
        .filter((p) => p.kind === "mcp-server" || p.kind === "router")
        .map((p) => ({
          name: p.name,
          service: p.env.SERVICE_NAME ?? p.name,
          url: `http://127.0.0.1:${p.port}/health/ready`,
        })),
    ];
    const routerTokens = options.routerEnv?.ROUTER_AUTH_TOKENS;
    processes.push({
      name: "network-monitor",
      kind: "network-monitor",
      port: ports.monitor,
      env: {
        HOST: "127.0.0.1",
        PORT: String(ports.monitor),
        SERVICE_NAME: "network-monitor",
        LOG_LEVEL: logLevel,
        MONITOR_TARGETS: JSON.stringify(targets),
        MONITOR_INTERVAL_MS: monitorSpec.env.MONITOR_INTERVAL_MS ?? "10000",
        MONITOR_RETENTION_MINUTES: monitorSpec.env.MONITOR_RETENTION_MINUTES ?? "60",
        // The routers' tokens, when they require them: the MCP probe of a router presents one.
        ...(routerTokens === undefined ? {} : { ROUTER_AUTH_TOKENS: routerTokens }),
      },
    });
  }

  // HAProxy keeps the topology's front ports where they are free (the launcher decides).
  const runnable = topology.catalog.filter((entry) => haproxyServers[entry.component] !== undefined);
  const local: Topology = {
    ...topology,
    ports: { ...topology.ports, gateway: ports.gateway, stats: ports.stats },
    catalog: runnable.map((entry) => ({ ...entry, port: ports.services[entry.id] ?? entry.port })),
  };
  const haproxyConfig = renderHaproxyConfig(
    local,
    { kind: "static", servers: haproxyServers },
    { bindAddress: "127.0.0.1", exclusivePorts: true },
  );
  processes.push({ name: "haproxy", kind: "haproxy", port: ports.gateway, env: {} });
  return { processes, haproxyConfig, directories, skipped, gatewayUrl: `http://127.0.0.1:${ports.gateway}` };
}
