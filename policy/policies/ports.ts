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
  carriesLabels,
  containersOf,
  displayName,
  dockerEnvOf,
  dockerLabelsOf,
  dockerRoleOf,
  NAME_LABEL,
  podLabelsOf,
  podSpecOf,
  ROLE_LABEL,
  TYPE,
  WORKLOAD_TYPES,
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

/** A Docker container's published ports, as the provider takes them. */
interface DockerPort {
  readonly internal?: number;
  readonly external?: number;
  readonly ip?: string;
  readonly protocol?: string;
}

function dockerPortsOf(r: PolicySubject): DockerPort[] {
  return Array.isArray(r.props.ports) ? r.props.ports : [];
}

/** What a Docker container publishes that DESIGN's port table does not allow. */
function dockerPortFindings(r: PolicySubject, p: PortPlan): string[] {
  const ports = dockerPortsOf(r);
  if (ports.length === 0) return [];
  const found: string[] = [];
  // DESIGN "Networks and ports": only haproxy, consul and network-monitor publish anything;
  // nothing in mcp-internal (the router, the MCP services) is published to the host.
  const role = dockerRoleOf(r.props);
  const component = dockerLabelsOf(r.props)["mcp-platform.component"] ?? String(r.props.name);
  if (role === "gateway" || role === "mcp-service" || !p.publishers.includes(component)) {
    found.push(`${displayName(r)}: publishes ports, which only ${p.publishers.join(", ")} may do`);
  }
  for (const port of ports) {
    if (typeof port.external !== "number") {
      // Docker then publishes the port on a random host port, outside any plan.
      found.push(
        `${displayName(r)}: container port ${String(port.internal)} has no external port, so Docker publishes it on a random host port`,
      );
    } else if (!allowed(port.external, p)) {
      found.push(`${displayName(r)}: publishes host port ${port.external}, outside ${planText(p)}`);
    }
  }
  return found;
}

/** Service types that open a port outside the cluster. */
const PUBLIC_SERVICE_TYPES: ReadonlySet<unknown> = new Set(["LoadBalancer", "NodePort"]);

/** Whether a LoadBalancer or NodePort Service may expose (or target) `port`: the gateway or an MCP port. */
function publicPort(port: unknown, p: PortPlan): boolean {
  return port === p.gatewayPort || (typeof port === "number" && inRange(port, p.mcpPorts));
}

/** What a public Service may expose, for messages. */
function publicPortsText(p: PortPlan): string {
  return `only ${p.gatewayPort} and ${p.mcpPorts.min}–${p.mcpPorts.max} may be public`;
}

/**
 * What a LoadBalancer or NodePort Service exposes beyond the gateway port and the direct MCP
 * service ports: the stats page, the Consul UI and the dashboard are never public (DESIGN "One
 * public Service"). A numeric `targetPort` must be one of those too.
 */
function servicePortFindings(r: PolicySubject, p: PortPlan): string[] {
  if (!PUBLIC_SERVICE_TYPES.has(r.props.spec?.type)) return [];
  const allowedText = publicPortsText(p);
  return (r.props.spec?.ports ?? []).flatMap((sp: { port: number; targetPort?: unknown }) => {
    if (!publicPort(sp.port, p)) return [`${displayName(r)}: exposes port ${sp.port}; ${allowedText}`];
    if (typeof sp.targetPort === "number" && !publicPort(sp.targetPort, p))
      return [`${displayName(r)}: exposes port ${sp.port} onto target port ${sp.targetPort}; ${allowedText}`];
    return [];
  });
}

/** Whether `labels` carry every label of a Service `selector` (an empty one selects nothing). */
function selects(selector: Record<string, unknown> | undefined, labels: Record<string, string>): boolean {
  return selector !== undefined && Object.keys(selector).length > 0 && carriesLabels(labels, selector);
}

/**
 * The container ports a Service's named `targetPort` reaches: the ports of that name on the
 * containers of the stack's workloads in the Service's namespace whose pods it selects.
 */
function namedTargetPorts(
  service: PolicySubject,
  name: string,
  resources: readonly PolicySubject[],
): number[] {
  const namespace = service.props.metadata?.namespace ?? "default";
  return resources.flatMap((r) => {
    const pod = podSpecOf(r);
    if (pod === undefined || (r.props.metadata?.namespace ?? "default") !== namespace) return [];
    if (!selects(service.props.spec?.selector, podLabelsOf(r))) return [];
    return containersOf(pod).flatMap((c) =>
      (c.ports ?? [])
        .filter((p: { name?: string }) => p.name === name)
        .map((p: { containerPort: number }) => p.containerPort),
    );
  });
}

/** What a public Service's named target ports reach beyond the gateway and MCP service ports. */
function namedTargetFindings(
  service: PolicySubject,
  resources: readonly PolicySubject[],
  p: PortPlan,
): string[] {
  if (!PUBLIC_SERVICE_TYPES.has(service.props.spec?.type)) return [];
  return (service.props.spec?.ports ?? []).flatMap((sp: { port: number; targetPort?: unknown }) => {
    // A port that may not be public at all is published-ports-in-plan's finding already.
    if (typeof sp.targetPort !== "string" || !publicPort(sp.port, p)) return [];
    const reached = namedTargetPorts(service, sp.targetPort, resources);
    if (reached.length === 0) {
      return [
        `${displayName(service)}: exposes port ${sp.port} onto target port "${sp.targetPort}", which no container the Service selects in this stack names, so what it reaches cannot be checked; use a numeric targetPort`,
      ];
    }
    return [...new Set(reached)]
      .filter((port) => !publicPort(port, p))
      .map(
        (port) =>
          `${displayName(service)}: exposes port ${sp.port} onto target port "${sp.targetPort}", which is container port ${port}; ${publicPortsText(p)}`,
      );
  });
}

/**
 * A public Service's named `targetPort`s resolve, on the pods it selects, to the gateway port or
 * MCP service ports only: `published-ports-in-plan` checks numeric ones, which need no lookup.
 */
export function publicTargetPortsInPlan(
  plan: PortPlan = DEFAULT_PORT_PLAN,
  opts?: RuleOptions,
): StackValidationPolicy {
  return stackPolicy<Partial<PortPlan>>(
    {
      name: "public-target-ports-in-plan",
      description:
        "A LoadBalancer or NodePort Service's named target ports reach only the gateway port and the MCP service ports of the pods it selects.",
      configSchema: portPlanSchema(plan),
      check: (resources, config) => {
        const p = portPlanOf(config, plan);
        return resources
          .filter((r) => r.type === TYPE.k8sService)
          .flatMap((service) => namedTargetFindings(service, resources, p));
      },
    },
    opts,
  );
}

/** Published host ports fall only in the configured set. */
export function publishedPortsInPlan(
  plan: PortPlan = DEFAULT_PORT_PLAN,
  opts?: RuleOptions,
): ResourceValidationPolicy {
  return resourcePolicy<Partial<PortPlan>>(
    {
      name: "published-ports-in-plan",
      description:
        "Only haproxy, consul and network-monitor publish host ports, each with an external port in the port plan; a LoadBalancer exposes only the gateway port and the MCP service ports.",
      types: [TYPE.dockerContainer, TYPE.k8sService],
      configSchema: portPlanSchema(plan),
      check: (r, config) => {
        const p = portPlanOf(config, plan);
        return r.type === TYPE.k8sService ? servicePortFindings(r, p) : dockerPortFindings(r, p);
      },
    },
    opts,
  );
}

/** The ports an MCP service listens on, with the component it belongs to; undefined for others. */
function mcpListenPorts(r: PolicySubject): { component: string; ports: number[] } | undefined {
  if (r.type === TYPE.dockerContainer) {
    if (dockerRoleOf(r.props) !== "mcp-service") return undefined;
    const component =
      dockerLabelsOf(r.props)["mcp-platform.component"] ?? String(r.props.name).replace(/-\d+$/, "");
    const port = Number(dockerEnvOf(r.props).PORT);
    return { component, ports: Number.isInteger(port) ? [port] : [] };
  }
  const pod = podSpecOf(r);
  if (pod === undefined) return undefined;
  // An MCP service is what carries the role label the EKS target gives it, on the workload or
  // on its pods (what NetworkPolicies select), whatever it is called.
  const labels: Record<string, string> = { ...r.props.metadata?.labels, ...podLabelsOf(r) };
  if (labels[ROLE_LABEL] !== "mcp-service") return undefined;
  const ports = containersOf(pod).flatMap((c) => [
    ...(c.ports ?? []).map((p: { containerPort: number }) => p.containerPort),
    // The service listens on PORT (DESIGN "Configuration"); containerPort is informational.
    ...(c.env ?? [])
      .filter((e: { name?: string; value?: unknown }) => e.name === "PORT" && e.value !== undefined)
      .map((e: { value: unknown }) => Number(e.value)),
  ]);
  return {
    component: String(labels[NAME_LABEL] ?? r.props.metadata?.name ?? r.name),
    ports: [...new Set<number>(ports)],
  };
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
      types: [TYPE.dockerContainer, ...WORKLOAD_TYPES],
      configSchema: portPlanSchema(plan),
      check: (r, config) => {
        const { mcpPorts } = portPlanOf(config, plan);
        const found = mcpListenPorts(r);
        if (found === undefined) return [];
        if (found.ports.length === 0) return [`${displayName(r)}: MCP service declares no listen port`];
        return found.ports
          .filter((port) => !Number.isInteger(port) || !inRange(port, mcpPorts))
          .map(
            (port) =>
              `${displayName(r)}: MCP service listens on ${port}, outside ${mcpPorts.min}–${mcpPorts.max}`,
          );
      },
    },
    opts,
  );
}

/** Addresses a host port binds on every interface, so it clashes with any other address. */
const WILDCARD = new Set(["0.0.0.0", "::", ""]);

/**
 * Host port claims that clash: the same port and protocol on the same address, or on a wildcard
 * address and any other. One message per port and protocol, owners sorted, so the message does
 * not depend on the order the engine registered resources in.
 */
function hostPortClashes(claims: { ip: string; port: number; protocol: string; owner: string }[]): string[] {
  const byPort = new Map<string, typeof claims>();
  for (const c of claims) {
    const key = `${c.port}/${c.protocol}`;
    byPort.set(key, [...(byPort.get(key) ?? []), c]);
  }
  const found: string[] = [];
  for (const [key, group] of byPort) {
    const owners = (cs: typeof claims) => new Set(cs.map((c) => c.owner));
    if (group.some((c) => WILDCARD.has(c.ip)) && owners(group).size > 1) {
      const names = [...new Set(group.map((c) => `${c.owner} (${c.ip})`))].sort().join(", ");
      found.push(`host port ${key} is published on every address and again: ${names}`);
      continue;
    }
    const byIp = new Map<string, typeof claims>();
    for (const c of group) byIp.set(c.ip, [...(byIp.get(c.ip) ?? []), c]);
    for (const [ip, same] of byIp) {
      if (owners(same).size > 1)
        found.push(
          `host port ${ip}:${key} is published by more than one container: ${[...owners(same)].sort().join(", ")}`,
        );
    }
  }
  return found;
}

/** No two resources claim one host port, and no two MCP services one listen port. */
export function noPortCollisions(opts?: RuleOptions): StackValidationPolicy {
  return stackPolicy(
    {
      name: "no-port-collisions",
      description:
        "Host ports are published once across the stack (per protocol; 0.0.0.0 clashes with every address), and each MCP service has a port of its own.",
      check: (resources) => {
        const hostClaims: { ip: string; port: number; protocol: string; owner: string }[] = [];
        const listenOwners = new Map<number, Set<string>>();
        for (const r of resources) {
          if (r.type === TYPE.dockerContainer) {
            for (const p of dockerPortsOf(r)) {
              // A port without an external one is published-ports-in-plan's finding.
              if (typeof p.external !== "number") continue;
              hostClaims.push({
                ip: p.ip ?? "0.0.0.0",
                port: p.external,
                protocol: (p.protocol ?? "tcp").toLowerCase(),
                owner: displayName(r),
              });
            }
          }
          const mcp = mcpListenPorts(r);
          for (const port of mcp?.ports ?? [])
            listenOwners.set(port, (listenOwners.get(port) ?? new Set()).add(mcp!.component));
        }
        return [
          ...hostPortClashes(hostClaims),
          ...[...listenOwners]
            .filter(([, o]) => o.size > 1)
            .map(
              ([port, o]) => `MCP port ${port} is used by more than one service: ${[...o].sort().join(", ")}`,
            ),
        ];
      },
    },
    opts,
  );
}
