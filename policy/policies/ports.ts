/**
 * Port rules: published ports follow one plan (infrastructure 11090–11099, MCP services
 * 11100–11199, and the declared front ports), MCP services listen on their own 111xx port, and
 * nothing collides.
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import type { RuleOptions } from "./define";
import { resourcePolicy, stackPolicy } from "./define";
import type { PolicySubject } from "./resources";
import {
  containersOf,
  displayName,
  dockerEnvOf,
  dockerLabelsOf,
  dockerRoleOf,
  podSpecOf,
  TYPE,
} from "./resources";
import type { PortPlan } from "./settings";
import { DEFAULT_PORT_PLAN, inRange, portPlanOf, portPlanSchema } from "./settings";

function planText(plan: PortPlan): string {
  const r = (x: { min: number; max: number }) => `${x.min}–${x.max}`;
  return `${r(plan.infrastructurePorts)}, ${r(plan.mcpPorts)} or ${plan.frontPorts.join("/")}`;
}

function allowed(port: number, plan: PortPlan): boolean {
  return (
    inRange(port, plan.infrastructurePorts) || inRange(port, plan.mcpPorts) || plan.frontPorts.includes(port)
  );
}

/** Host ports published by a Docker container. */
function hostPortsOf(r: PolicySubject): number[] {
  return (r.props.ports ?? [])
    .map((p: { external?: number }) => p.external)
    .filter((p: unknown): p is number => typeof p === "number");
}

/** Published host ports fall only in the configured set. */
export function publishedPortsInPlan(
  plan: PortPlan = DEFAULT_PORT_PLAN,
  opts?: RuleOptions,
): ResourceValidationPolicy {
  return resourcePolicy<Partial<PortPlan>>(
    {
      name: "published-ports-in-plan",
      description: "Published host ports and exposed Service ports are in the port plan.",
      types: [TYPE.dockerContainer, TYPE.k8sService],
      configSchema: portPlanSchema(plan),
      check: (r, config) => {
        const p = portPlanOf(config, plan);
        if (r.type === TYPE.k8sService) {
          const type = r.props.spec?.type;
          if (type !== "LoadBalancer" && type !== "NodePort") return [];
          return (r.props.spec?.ports ?? [])
            .filter((sp: { port: number }) => !allowed(sp.port, p))
            .map(
              (sp: { port: number }) => `${displayName(r)}: exposes port ${sp.port}, outside ${planText(p)}`,
            );
        }
        return hostPortsOf(r)
          .filter((port) => !allowed(port, p))
          .map((port) => `${displayName(r)}: publishes host port ${port}, outside ${planText(p)}`);
      },
    },
    opts,
  );
}

/** The port an MCP service listens on, with the component it belongs to; undefined for others. */
function mcpListenPorts(r: PolicySubject): { component: string; ports: number[] } | undefined {
  if (r.type === TYPE.dockerContainer) {
    if (dockerRoleOf(r.props) !== "mcp-service") return undefined;
    const component =
      dockerLabelsOf(r.props)["mcp-platform.component"] ?? String(r.props.name).replace(/-\d+$/, "");
    const port = Number(dockerEnvOf(r.props).PORT);
    return { component, ports: Number.isInteger(port) ? [port] : [] };
  }
  const name = r.props.metadata?.name;
  const pod = podSpecOf(r);
  if (pod === undefined || typeof name !== "string" || !name.startsWith("mcp-")) return undefined;
  const ports = containersOf(pod).flatMap((c) =>
    (c.ports ?? []).map((p: { containerPort: number }) => p.containerPort),
  );
  return { component: name, ports };
}

/** MCP services listen on a port inside 11100–11199. */
export function mcpServicePortsInRange(
  plan: PortPlan = DEFAULT_PORT_PLAN,
  opts?: RuleOptions,
): ResourceValidationPolicy {
  return resourcePolicy<Partial<PortPlan>>(
    {
      name: "mcp-service-ports-in-range",
      description: "Every MCP service listens on its own port inside the MCP range.",
      types: [TYPE.dockerContainer, TYPE.k8sDeployment],
      configSchema: portPlanSchema(plan),
      check: (r, config) => {
        const { mcpPorts } = portPlanOf(config, plan);
        const found = mcpListenPorts(r);
        if (found === undefined) return [];
        if (found.ports.length === 0) return [`${displayName(r)}: MCP service declares no listen port`];
        return found.ports
          .filter((port) => !inRange(port, mcpPorts))
          .map(
            (port) =>
              `${displayName(r)}: MCP service listens on ${port}, outside ${mcpPorts.min}–${mcpPorts.max}`,
          );
      },
    },
    opts,
  );
}

/** No two resources claim one host port, and no two MCP services one listen port. */
export function noPortCollisions(opts?: RuleOptions): StackValidationPolicy {
  return stackPolicy(
    {
      name: "no-port-collisions",
      description:
        "Host ports are published once across the stack, and each MCP service has a port of its own.",
      check: (resources) => {
        // Group claims by port, then report each shared port once, owners sorted: the message
        // does not depend on the order the engine registered resources in.
        const hostOwners = new Map<string, Set<string>>();
        const listenOwners = new Map<number, Set<string>>();
        const claim = <K>(owners: Map<K, Set<string>>, key: K, owner: string) =>
          owners.set(key, (owners.get(key) ?? new Set()).add(owner));
        for (const r of resources) {
          if (r.type === TYPE.dockerContainer) {
            for (const p of r.props.ports ?? [])
              claim(hostOwners, `${p.ip ?? "0.0.0.0"}:${p.external}`, displayName(r));
          }
          const mcp = mcpListenPorts(r);
          for (const port of mcp?.ports ?? []) claim(listenOwners, port, mcp!.component);
        }
        const shared = <K>(owners: Map<K, Set<string>>, what: (key: K, names: string) => string) =>
          [...owners].filter(([, o]) => o.size > 1).map(([key, o]) => what(key, [...o].sort().join(", ")));
        return [
          ...shared(
            hostOwners,
            (key, names) => `host port ${key} is published by more than one container: ${names}`,
          ),
          ...shared(
            listenOwners,
            (port, names) => `MCP port ${port} is used by more than one service: ${names}`,
          ),
        ];
      },
    },
    opts,
  );
}
