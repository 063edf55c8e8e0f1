/**
 * The platform's one source of truth: a pure function from the stack config to networks,
 * components, ports and memberships. The Docker target, the EKS target, the HAProxy renderer,
 * the policy pack's defaults and the local launcher all read this, never the config directly.
 */
import { memoryBytes, SECRET_KEYS } from "./config";
import type { Autoscaling, McpService, Resources, StackConfig, ToolSet } from "./config";

/** Network names and the internal subnet, from DESIGN "Networks and ports". */
export const NETWORK = {
  public: "sutazai-network",
  internal: "mcp-internal",
  internalSubnet: "172.20.0.0/24",
  /**
   * Where Docker picks `mcp-internal` addresses for containers without a fixed one: the upper
   * half, so no container can hold Consul's fixed address below it when they all start at once
   * (a Docker daemon restart), which would keep Consul from starting.
   */
  internalIpRange: "172.20.0.128/25",
} as const;

/** Consul's fixed address on `mcp-internal` (outside `internalIpRange`), so HAProxy's resolver needs no DNS to find it. */
export const CONSUL_INTERNAL_IP = "172.20.0.2";

/**
 * The prod stack's counterparts of the two networks (DESIGN "Prod stack"): what joins the public
 * network runs in `mcp-platform`; what lives on `mcp-internal` alone runs in `mcp-internal`.
 */
export const NAMESPACE = { platform: "mcp-platform", internal: "mcp-internal" } as const;

/** The name of one of the two namespaces. */
export type NamespaceName = (typeof NAMESPACE)[keyof typeof NAMESPACE];

/** The Kubernetes Services' DNS suffix. */
export const CLUSTER_DOMAIN = "svc.cluster.local";

/** Where every component with metrics serves them, in the Prometheus text format, on its health port. */
export const METRICS_PATH = "/metrics";

/** Ports that Consul and the services listen on inside their containers. */
export const CONTAINER_PORT = { consulHttp: 8500, consulDns: 8600, router: 3000 } as const;

/** The name of one of the two networks. */
export type NetworkName = (typeof NETWORK)["public"] | (typeof NETWORK)["internal"];

/** One Docker network (or, in prod, one namespace). */
export interface NetworkSpec {
  readonly name: NetworkName;
  readonly internal: boolean;
  readonly subnet?: string;
  /** Within `subnet`, where addresses are handed out to containers without a fixed one. */
  readonly ipRange?: string;
}

/** The three images this repo builds. */
export type ServiceImage = "router" | "mcp-server" | "network-monitor";

/** The one Dockerfile every service image is built from (`SERVICE` picks the service). */
export const SERVICE_DOCKERFILE = "services/Dockerfile";

/**
 * Each service's own default `PORT` (its env schema's), baked into its image as `SERVICE_PORT`
 * for `EXPOSE` and the health check when no `PORT` is set.
 */
export const SERVICE_DEFAULT_PORTS: Readonly<Record<ServiceImage, number>> = {
  router: CONTAINER_PORT.router,
  "mcp-server": 8080,
  "network-monitor": 11091,
};

/** Where a component's image comes from. */
export type ImageSource =
  | { readonly kind: "build"; readonly service: ServiceImage }
  | { readonly kind: "registry"; readonly ref: string };

/** What a component is for: the isolation rules key on this. */
export type Role = "infrastructure" | "gateway" | "mcp-service";

/**
 * A secret config key (`pulumi config set --secret`) behind an env var, and what to do when it is
 * unset: fail naming the key, generate a random value kept in state, or leave the variable out.
 */
export interface SecretRef {
  readonly key: string;
  readonly whenMissing: "fail" | "generate" | "omit";
}

/** A host port published by a component. */
export interface PublishedPort {
  readonly host: number;
  readonly container: number;
  readonly component: string;
  readonly purpose: string;
}

/** One deployable piece of the platform, with all of its replicas. */
export interface ComponentSpec {
  /** Container name prefix, Kubernetes workload name and HAProxy backend name. */
  readonly name: string;
  readonly role: Role;
  readonly image: ImageSource;
  readonly replicas: number;
  /** HPA bounds in prod; only the router and MCP services scale. */
  readonly autoscaling?: Autoscaling;
  /** Never two instances at once, not even during an update (prod: `Recreate`). */
  readonly singleton?: boolean;
  readonly networks: readonly NetworkName[];
  /** The port the process listens on inside its container. */
  readonly port: number;
  /** HTTP path for liveness; readiness uses `readyPath`. Undefined for TCP-only components. */
  readonly livePath?: string;
  readonly readyPath?: string;
  /** The port serving `livePath`/`readyPath` when it is not `port` (HAProxy answers on its stats port). */
  readonly healthPort?: number;
  /** `METRICS_PATH` when the component serves Prometheus metrics on its health port. */
  readonly metricsPath?: string;
  /** Container requests and limits (prod only). */
  readonly resources?: Resources;
  readonly hostPorts: readonly PublishedPort[];
  /** Plain environment. */
  readonly env: Readonly<Record<string, string>>;
  /** Env var name -> the secret config key it comes from. */
  readonly secretEnv: Readonly<Record<string, SecretRef>>;
  /** The name the component registers under in Consul, when it registers. */
  readonly consulName?: string;
  /** A volume mounted into every replica. */
  readonly volume?: { readonly mountPath: string; readonly sizeGi: number };
}

/** The port a component's health routes (and its metrics) answer on. */
export function healthPortOf(spec: Pick<ComponentSpec, "port" | "healthPort">): number {
  return spec.healthPort ?? spec.port;
}

/** One MCP service of the catalog, as the router and HAProxy see it. */
export interface CatalogEntry {
  /** Service id: the `<service>` in `<service>__<tool>` and in `/services/<service>/mcp`. */
  readonly id: string;
  /** Component and Consul name: `mcp-<id>`. */
  readonly component: string;
  readonly port: number;
  readonly toolSet: ToolSet;
}

/** An image build with the arguments config implies. */
export interface ImageBuild {
  readonly service: ServiceImage;
  readonly dockerfile: string;
  readonly args: Readonly<Record<string, string>>;
}

/** Everything the targets and renderers need. */
export interface Topology {
  readonly networks: readonly NetworkSpec[];
  readonly components: readonly ComponentSpec[];
  readonly catalog: readonly CatalogEntry[];
  readonly publishedPorts: readonly PublishedPort[];
  /** Front ports kept for features that do not publish yet (the router's gRPC API). */
  readonly reservedPorts: readonly PublishedPort[];
  readonly images: readonly ImageBuild[];
  readonly ports: StackConfig["ports"];
  readonly haproxy: StackConfig["haproxy"];
}

/** `MCP_SERVER` for a tool set: one `mcpServers` entry, or nothing for the built-in set. */
export function mcpServerEnv(toolSet: ToolSet): string | undefined {
  if (toolSet.kind === "builtin") return undefined;
  const entry: { command: string; args: string[]; env?: Record<string, string> } = {
    command: toolSet.bin,
    args: toolSet.args,
  };
  if (Object.keys(toolSet.env).length > 0) entry.env = toolSet.env;
  return JSON.stringify(entry);
}

/** The stdio packages the mcp-server image must bake in, as `name@version`, sorted and unique. */
export function stdioPackages(services: readonly McpService[]): string[] {
  const specs = services.flatMap((s) =>
    s.toolSet.kind === "stdio" ? [`${s.toolSet.package}@${s.toolSet.version}`] : [],
  );
  return [...new Set(specs)].sort();
}

/** The Kubernetes namespace a component runs in: see `NAMESPACE`. */
export function namespaceOf(spec: Pick<ComponentSpec, "networks">): NamespaceName {
  return spec.networks.includes(NETWORK.public) ? NAMESPACE.platform : NAMESPACE.internal;
}

/** A component's Service DNS name in the cluster: `<name>.<namespace>.svc.cluster.local`. */
export function clusterHost(spec: Pick<ComponentSpec, "name" | "networks">): string {
  return `${spec.name}.${namespaceOf(spec)}.${CLUSTER_DOMAIN}`;
}

/**
 * How one component reaches another by name: the Docker network alias in dev, the Service's
 * cluster DNS name on EKS, where the two sides may sit in different namespaces.
 */
export function peerHost(
  target: StackConfig["target"],
  spec: Pick<ComponentSpec, "name" | "networks">,
): string {
  return target === "eks" ? clusterHost(spec) : spec.name;
}

/** `CONSUL_HTTP_ADDR` for the services: Consul's HTTP API as a peer reaches it. */
function consulAddress(cfg: StackConfig, consul: ComponentSpec): string {
  return `http://${peerHost(cfg.target, consul)}:${consul.port}`;
}

function commonEnv(cfg: StackConfig, consulAddr: string, name: string, port: number): Record<string, string> {
  return {
    HOST: "0.0.0.0",
    PORT: String(port),
    SERVICE_NAME: name,
    CONSUL_HTTP_ADDR: consulAddr,
    LOG_LEVEL: cfg.logLevel,
  };
}

function httpLimits(cfg: StackConfig): Record<string, string> {
  return {
    ...(cfg.allowedOrigins.length > 0 ? { MCP_ALLOWED_ORIGINS: cfg.allowedOrigins.join(",") } : {}),
    ...(cfg.allowedHosts.length > 0 ? { MCP_ALLOWED_HOSTS: cfg.allowedHosts.join(",") } : {}),
  };
}

/** Kept for the router process itself under load (an idle router holds about 120 MiB). */
const ROUTER_RESERVED_BYTES = 192 * 1024 * 1024;
/** What one open client stream may take: about 40 KiB idle, more while writes are buffered. */
const ROUTER_BYTES_PER_STREAM = 64 * 1024;

/**
 * The router's `ROUTER_MAX_STREAMS` in a container with this memory limit, so that a flood of
 * streams is refused (503) before it gets the replica OOM-killed: 512Mi gives 5,120.
 */
export function routerMaxStreamsFor(memoryLimitBytes: number): number {
  return Math.max(100, Math.floor((memoryLimitBytes - ROUTER_RESERVED_BYTES) / ROUTER_BYTES_PER_STREAM));
}

/** `ROUTER_MAX_STREAMS` from the router's memory limit, when the stack sets one (prod). */
function streamLimit(cfg: StackConfig): Record<string, string> {
  const memory = cfg.eks?.resources.router.limits.memory;
  return memory === undefined ? {} : { ROUTER_MAX_STREAMS: String(routerMaxStreamsFor(memoryBytes(memory))) };
}

function scaling(cfg: StackConfig, override: Partial<Autoscaling> | undefined): Autoscaling | undefined {
  if (cfg.eks === undefined) return undefined;
  return { ...cfg.eks.autoscaling, ...override };
}

/** Requests and limits of one workload kind, when the stack has EKS settings. */
function sizing(cfg: StackConfig, kind: keyof NonNullable<StackConfig["eks"]>["resources"]) {
  return cfg.eks === undefined ? {} : { resources: cfg.eks.resources[kind] };
}

/**
 * `MCP_BRIDGE_ENV` of a bridged service: the names of its `env` and `secretEnv`, which its stdio
 * server receives next to `toolSet.env` (a bridged child sees nothing else of the container's).
 */
function bridgeEnv(s: McpService, mcpServer: string | undefined): Record<string, string> {
  const names = [...new Set([...Object.keys(s.env), ...Object.keys(s.secretEnv)])].sort();
  return mcpServer === undefined || names.length === 0 ? {} : { MCP_BRIDGE_ENV: names.join(",") };
}

function mcpComponent(cfg: StackConfig, consulAddr: string, s: McpService): ComponentSpec {
  const name = `mcp-${s.name}`;
  const mcpServer = mcpServerEnv(s.toolSet);
  return {
    name,
    role: "mcp-service",
    image: { kind: "build", service: "mcp-server" },
    replicas: s.replicas,
    autoscaling: s.singleton ? undefined : scaling(cfg, s.autoscaling),
    ...(s.singleton ? { singleton: true } : {}),
    ...sizing(cfg, "mcpService"),
    networks: [NETWORK.internal],
    port: s.port,
    livePath: "/health/live",
    readyPath: "/health/ready",
    metricsPath: METRICS_PATH,
    hostPorts: [],
    env: {
      ...commonEnv(cfg, consulAddr, name, s.port),
      ...httpLimits(cfg),
      ...(mcpServer === undefined ? {} : { MCP_SERVER: mcpServer }),
      MCP_BRIDGE_PROCESSES: String(s.bridgeProcesses),
      // A singleton is its data's one writer: one call at a time, or concurrent calls of the
      // child (server-memory rewrites its whole file per call) lose each other's writes.
      ...(s.singleton ? { MCP_BRIDGE_CONCURRENCY: "1" } : {}),
      ...bridgeEnv(s, mcpServer),
      ...s.env,
    },
    secretEnv: Object.fromEntries(
      Object.entries(s.secretEnv).map(([env, key]): [string, SecretRef] => [
        env,
        { key, whenMissing: "fail" },
      ]),
    ),
    consulName: name,
    ...(s.volume ? { volume: { mountPath: s.volume.mountPath, sizeGi: s.volume.sizeGi } } : {}),
  };
}

/** Derive the topology. Pure: same config, same topology. */
export function buildTopology(cfg: StackConfig): Topology {
  const both = [NETWORK.public, NETWORK.internal] as const;
  const published = (component: string, host: number, container: number, purpose: string): PublishedPort => ({
    host,
    container,
    component,
    purpose,
  });
  const catalog: CatalogEntry[] = cfg.services.map((s) => ({
    id: s.name,
    component: `mcp-${s.name}`,
    port: s.port,
    toolSet: s.toolSet,
  }));

  const consul: ComponentSpec = {
    name: "consul",
    role: "infrastructure",
    image: { kind: "registry", ref: cfg.images.consul },
    replicas: 1,
    networks: both,
    port: CONTAINER_PORT.consulHttp,
    livePath: "/v1/status/leader",
    readyPath: "/v1/status/leader",
    ...sizing(cfg, "consul"),
    hostPorts: [published("consul", cfg.ports.consul, CONTAINER_PORT.consulHttp, "Consul UI and HTTP API")],
    env: {},
    secretEnv: {},
  };
  const consulAddr = consulAddress(cfg, consul);

  const haproxy: ComponentSpec = {
    name: "haproxy",
    role: "infrastructure",
    image: { kind: "registry", ref: cfg.images.haproxy },
    // One container publishes the host ports in dev; prod runs `eks.haproxy.replicas` pods.
    replicas: cfg.target === "eks" && cfg.eks !== undefined ? cfg.eks.haproxy.replicas : 1,
    networks: both,
    port: cfg.ports.gateway,
    livePath: "/healthz",
    readyPath: "/healthz",
    // HAProxy's built-in exporter on the stats port (infra/haproxy.ts).
    metricsPath: METRICS_PATH,
    // `monitor-uri /healthz` lives on the stats frontend; the gateway port forwards to routers.
    healthPort: cfg.ports.stats,
    ...sizing(cfg, "haproxy"),
    hostPorts: [
      published("haproxy", cfg.ports.gateway, cfg.ports.gateway, "MCP gateway (router)"),
      published("haproxy", cfg.ports.stats, cfg.ports.stats, "HAProxy stats page"),
      ...catalog.map((c) => published("haproxy", c.port, c.port, `direct access to ${c.component}`)),
    ],
    env: {},
    secretEnv: {},
  };

  // Clients present these to the router; the monitor presents one when it probes the router.
  const routerAuthTokens: SecretRef = { key: SECRET_KEYS.routerAuthTokens, whenMissing: "omit" };
  const router: ComponentSpec = {
    name: "router",
    role: "gateway",
    image: { kind: "build", service: "router" },
    replicas: cfg.router.replicas,
    autoscaling: scaling(cfg, cfg.router.autoscaling),
    ...sizing(cfg, "router"),
    networks: [NETWORK.internal],
    port: CONTAINER_PORT.router,
    livePath: "/health/live",
    readyPath: "/health/ready",
    metricsPath: METRICS_PATH,
    hostPorts: [],
    env: {
      ...commonEnv(cfg, consulAddr, "router", CONTAINER_PORT.router),
      ...httpLimits(cfg),
      ...streamLimit(cfg),
    },
    secretEnv: {
      ROUTER_SESSION_KEY: { key: SECRET_KEYS.routerSessionKey, whenMissing: "generate" },
      ROUTER_SESSION_ACCEPTED_KEYS: { key: SECRET_KEYS.routerSessionAcceptedKeys, whenMissing: "omit" },
      ROUTER_AUTH_TOKENS: routerAuthTokens,
    },
    consulName: "router",
  };

  const monitorTargets = [
    {
      name: "consul",
      url: `${consulAddr}${consul.readyPath}`,
    },
    {
      name: "haproxy",
      url: `http://${peerHost(cfg.target, haproxy)}:${haproxy.healthPort}${haproxy.livePath}`,
    },
  ];
  const monitor: ComponentSpec = {
    name: "network-monitor",
    role: "infrastructure",
    image: { kind: "build", service: "network-monitor" },
    replicas: 1,
    networks: both,
    port: cfg.ports.monitor,
    livePath: "/health/live",
    readyPath: "/health/ready",
    metricsPath: METRICS_PATH,
    ...sizing(cfg, "networkMonitor"),
    hostPorts: [
      published("network-monitor", cfg.ports.monitor, cfg.ports.monitor, "monitor dashboard and API"),
    ],
    env: {
      ...commonEnv(cfg, consulAddr, "network-monitor", cfg.ports.monitor),
      MONITOR_TARGETS: JSON.stringify(monitorTargets),
      MONITOR_INTERVAL_MS: String(cfg.monitor.intervalMs),
      MONITOR_RETENTION_MINUTES: String(cfg.monitor.retentionMinutes),
    },
    // The router's own tokens: its MCP probe of the routers must pass their bearer check.
    secretEnv: { ROUTER_AUTH_TOKENS: routerAuthTokens },
    consulName: "network-monitor",
  };

  const components = [
    consul,
    haproxy,
    router,
    ...cfg.services.map((s) => mcpComponent(cfg, consulAddr, s)),
    monitor,
  ];
  const packages = stdioPackages(cfg.services);
  const images: ImageBuild[] = (["router", "mcp-server", "network-monitor"] as const).map((service) => ({
    service,
    dockerfile: SERVICE_DOCKERFILE,
    args: {
      SERVICE: service,
      SERVICE_PORT: String(SERVICE_DEFAULT_PORTS[service]),
      ...(service === "mcp-server" ? { MCP_STDIO_PACKAGES: packages.join(" ") } : {}),
    },
  }));

  return {
    networks: [
      { name: NETWORK.public, internal: false },
      {
        name: NETWORK.internal,
        internal: true,
        subnet: NETWORK.internalSubnet,
        ipRange: NETWORK.internalIpRange,
      },
    ],
    components,
    catalog,
    publishedPorts: components.flatMap((c) => c.hostPorts),
    reservedPorts: [published("haproxy", cfg.ports.grpc, cfg.ports.grpc, "router gRPC API (reserved)")],
    images,
    ports: cfg.ports,
    haproxy: cfg.haproxy,
  };
}

/** The component of that name; throws when the topology has none. */
export function component(topology: Topology, name: string): ComponentSpec {
  const found = topology.components.find((c) => c.name === name);
  if (found === undefined) throw new Error(`topology has no component "${name}"`);
  return found;
}
