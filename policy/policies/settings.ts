/**
 * The policies' settings and their defaults, taken from the project's port plan
 * (infra/config.ts), so the plan is written down once.
 */
import { PORT_RANGES, PortsSchema } from "../../infra/config";
import { NAMESPACE, NETWORK } from "../../infra/topology";
import type { PolicyConfigSchema } from "@pulumi/policy";

/** A closed port range. */
export interface PortRange {
  readonly min: number;
  readonly max: number;
}

/** Settings of the port rules. */
export interface PortPlan {
  readonly infrastructurePorts: PortRange;
  readonly mcpPorts: PortRange;
  /** Front ports outside the ranges: the gateway and the router's gRPC API. */
  readonly frontPorts: readonly number[];
  /**
   * The one front port a LoadBalancer may expose beside the MCP range (the direct 111xx ports):
   * the gateway. The infrastructure ports (stats, Consul UI, dashboard) are never public.
   */
  readonly gatewayPort: number;
  /** The Docker containers (`mcp-platform.component`) that may publish host ports at all. */
  readonly publishers: readonly string[];
}

/** The infrastructure components that join both networks and publish host ports in dev. */
const INFRASTRUCTURE = ["consul", "haproxy", "network-monitor"] as const;

const portDefaults = PortsSchema.parse({});

/** The shipped port plan: 11090–11099, 11100–11199, and the front ports 3000 and 50051. */
export const DEFAULT_PORT_PLAN: PortPlan = {
  infrastructurePorts: { ...PORT_RANGES.infrastructure },
  mcpPorts: { ...PORT_RANGES.mcp },
  frontPorts: [portDefaults.gateway, portDefaults.grpc],
  gatewayPort: portDefaults.gateway,
  publishers: [...INFRASTRUCTURE],
};

const rangeSchema = (d: PortRange) => ({
  type: "object" as const,
  properties: {
    min: { type: "integer" as const, minimum: 1, maximum: 65535 },
    max: { type: "integer" as const, minimum: 1, maximum: 65535 },
  },
  required: ["min", "max"],
  default: { ...d },
});

/** `configSchema` of the port rules; `--policy-pack-config` may override any of it per stack. */
export function portPlanSchema(plan: PortPlan = DEFAULT_PORT_PLAN): PolicyConfigSchema {
  return {
    properties: {
      infrastructurePorts: rangeSchema(plan.infrastructurePorts),
      mcpPorts: rangeSchema(plan.mcpPorts),
      frontPorts: {
        type: "array",
        items: { type: "integer", minimum: 1, maximum: 65535 },
        default: [...plan.frontPorts],
      },
      gatewayPort: { type: "integer", minimum: 1, maximum: 65535, default: plan.gatewayPort },
      publishers: { type: "array", items: { type: "string" }, default: [...plan.publishers] },
    },
  };
}

/** The configured plan, falling back to the defaults key by key. */
export function portPlanOf(
  config: Partial<PortPlan> | undefined,
  plan: PortPlan = DEFAULT_PORT_PLAN,
): PortPlan {
  return {
    infrastructurePorts: config?.infrastructurePorts ?? plan.infrastructurePorts,
    mcpPorts: config?.mcpPorts ?? plan.mcpPorts,
    frontPorts: config?.frontPorts ?? plan.frontPorts,
    gatewayPort: config?.gatewayPort ?? plan.gatewayPort,
    publishers: config?.publishers ?? plan.publishers,
  };
}

/** True when `port` is inside `r`. */
export function inRange(port: number, r: PortRange): boolean {
  return port >= r.min && port <= r.max;
}

/**
 * A peer NetworkPolicies in the internal namespace may send to: pods carrying `podLabels` (at
 * least) in `namespace`, selected by its `kubernetes.io/metadata.name` label; no `namespace`
 * means the internal namespace itself.
 */
export interface EgressPeer {
  readonly what: string;
  readonly namespace?: string;
  readonly podLabels: Readonly<Record<string, string>>;
}

/** Settings of the isolation rules. */
export interface IsolationSettings {
  readonly internalNetwork: string;
  readonly internalSubnet: string;
  readonly publicNetwork: string;
  /** Components allowed on both networks. */
  readonly dualHomed: readonly string[];
  /** Namespace that must default-deny in prod. */
  readonly internalNamespace: string;
  /** The only peers the internal namespace's NetworkPolicies may open egress to. */
  readonly internalEgressPeers: readonly EgressPeer[];
  /** Namespace of the infrastructure, where the one LoadBalancer Service lives. */
  readonly platformNamespace: string;
  /** The component (`app.kubernetes.io/name`) whose pods alone may sit behind a LoadBalancer or NodePort. */
  readonly frontDoorService: string;
}

/** The shipped isolation settings, from DESIGN "Networks and ports". */
export const DEFAULT_ISOLATION: IsolationSettings = {
  internalNetwork: NETWORK.internal,
  internalSubnet: NETWORK.internalSubnet,
  publicNetwork: NETWORK.public,
  dualHomed: [...INFRASTRUCTURE],
  internalNamespace: NETWORK.internal,
  // What infra/eks/network-policy.ts opens (DESIGN "mcp-internal egress": DNS and Consul only,
  // plus router -> services and router -> router). Written out: that module loads the
  // Kubernetes SDK, the pack none.
  internalEgressPeers: [
    { what: "kube-dns", namespace: "kube-system", podLabels: { "k8s-app": "kube-dns" } },
    // CONSUL_SERVER_LABELS of infra/eks/consul.ts: the chart's server pods.
    {
      what: "the Consul servers",
      namespace: NAMESPACE.platform,
      podLabels: { app: "consul", component: "server" },
    },
    { what: "MCP service pods", podLabels: { "app.kubernetes.io/component": "mcp-service" } },
    // The router's replicas forward legacy SSE posts and cancellations to each other.
    { what: "router pods", podLabels: { "app.kubernetes.io/name": "router" } },
  ],
  platformNamespace: NAMESPACE.platform,
  frontDoorService: "haproxy",
};
