/**
 * The policies' settings and their defaults, taken from the project's port plan
 * (infra/config.ts), so the plan is written down once.
 */
import { PORT_RANGES, PortsSchema } from "../../infra/config";
import { NETWORK } from "../../infra/topology";
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
}

const portDefaults = PortsSchema.parse({});

/** The shipped port plan: 11090–11099, 11100–11199, and the front ports 3000 and 50051. */
export const DEFAULT_PORT_PLAN: PortPlan = {
  infrastructurePorts: { ...PORT_RANGES.infrastructure },
  mcpPorts: { ...PORT_RANGES.mcp },
  frontPorts: [portDefaults.gateway, portDefaults.grpc],
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
  };
}

/** True when `port` is inside `r`. */
export function inRange(port: number, r: PortRange): boolean {
  return port >= r.min && port <= r.max;
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
  /** The component (`app.kubernetes.io/name`) whose pods alone may sit behind a LoadBalancer or NodePort. */
  readonly frontDoorService: string;
}

/** The shipped isolation settings, from DESIGN "Networks and ports". */
export const DEFAULT_ISOLATION: IsolationSettings = {
  internalNetwork: NETWORK.internal,
  internalSubnet: NETWORK.internalSubnet,
  publicNetwork: NETWORK.public,
  dualHomed: ["consul", "haproxy", "network-monitor"],
  internalNamespace: NETWORK.internal,
  frontDoorService: "haproxy",
};
