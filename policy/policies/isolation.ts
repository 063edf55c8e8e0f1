/**
 * Isolation rules: MCP services are reachable only through the load balancer. In dev the
 * `mcp-internal` Docker network is internal and holds the router and the services alone; in prod
 * the `mcp-internal` namespace denies by default and only HAProxy is exposed.
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import type { RuleOptions } from "./define";
import { resourcePolicy, stackPolicy } from "./define";
import type { PolicySubject } from "./resources";
import {
  containersOf,
  displayName,
  dockerLabelsOf,
  dockerNetworksOf,
  dockerRoleOf,
  podSpecOf,
  TYPE,
  WORKLOAD_TYPES,
} from "./resources";
import type { IsolationSettings } from "./settings";
import { DEFAULT_ISOLATION } from "./settings";

/** `mcp-internal` is `internal: true` on 172.20.0.0/24. */
export function internalNetworkIsolated(
  s: IsolationSettings = DEFAULT_ISOLATION,
  opts?: RuleOptions,
): ResourceValidationPolicy {
  return resourcePolicy(
    {
      name: "mcp-internal-network-isolated",
      description: `The ${s.internalNetwork} Docker network is internal and uses ${s.internalSubnet}.`,
      types: [TYPE.dockerNetwork],
      check: (r) => {
        if (r.props.name !== s.internalNetwork) return [];
        const found: string[] = [];
        if (r.props.internal !== true)
          found.push(`${displayName(r)}: network ${s.internalNetwork} must be internal: true`);
        const subnets = (r.props.ipamConfigs ?? []).map((c: { subnet?: string }) => c.subnet);
        if (subnets.length !== 1 || subnets[0] !== s.internalSubnet) {
          found.push(
            `${displayName(r)}: network ${s.internalNetwork} must use subnet ${s.internalSubnet}, not ${JSON.stringify(subnets)}`,
          );
        }
        return found;
      },
    },
    opts,
  );
}

/** Router and MCP service containers join only `mcp-internal`. */
export function mcpWorkloadsInternalOnly(
  s: IsolationSettings = DEFAULT_ISOLATION,
  opts?: RuleOptions,
): ResourceValidationPolicy {
  return resourcePolicy(
    {
      name: "mcp-workloads-internal-only",
      description: `Router and MCP service containers join only ${s.internalNetwork}.`,
      types: [TYPE.dockerContainer],
      check: (r) => {
        const role = dockerRoleOf(r.props);
        if (role !== "gateway" && role !== "mcp-service") return [];
        const networks = dockerNetworksOf(r.props);
        if (networks.length === 1 && networks[0] === s.internalNetwork) return [];
        return [
          `${displayName(r)}: ${role} container joins ${JSON.stringify(networks)}; it may join only ${s.internalNetwork}`,
        ];
      },
    },
    opts,
  );
}

/** Only haproxy, consul and network-monitor join both networks. */
export function dualHomedInfrastructureOnly(
  s: IsolationSettings = DEFAULT_ISOLATION,
  opts?: RuleOptions,
): ResourceValidationPolicy {
  return resourcePolicy(
    {
      name: "dual-homed-infrastructure-only",
      description: `Only ${s.dualHomed.join(", ")} join both ${s.publicNetwork} and ${s.internalNetwork}.`,
      types: [TYPE.dockerContainer],
      check: (r) => {
        const networks = dockerNetworksOf(r.props);
        if (!networks.includes(s.publicNetwork) || !networks.includes(s.internalNetwork)) return [];
        const component = dockerLabelsOf(r.props)["mcp-platform.component"] ?? String(r.props.name);
        if (s.dualHomed.includes(component)) return [];
        return [`${displayName(r)}: joins both networks, which only ${s.dualHomed.join(", ")} may do`];
      },
    },
    opts,
  );
}

function isDefaultDeny(np: PolicySubject, namespace: string): boolean {
  const meta = np.props.metadata ?? {};
  const spec = np.props.spec ?? {};
  const selectsAll =
    spec.podSelector !== undefined &&
    Object.keys(spec.podSelector.matchLabels ?? {}).length === 0 &&
    (spec.podSelector.matchExpressions ?? []).length === 0;
  const types: string[] = spec.policyTypes ?? [];
  return (
    meta.namespace === namespace &&
    selectsAll &&
    types.includes("Ingress") &&
    types.includes("Egress") &&
    (spec.ingress ?? []).length === 0 &&
    (spec.egress ?? []).length === 0
  );
}

/** In prod, the `mcp-internal` namespace has a default-deny NetworkPolicy. */
export function internalNamespaceDefaultDeny(
  s: IsolationSettings = DEFAULT_ISOLATION,
  opts?: RuleOptions,
): StackValidationPolicy {
  return stackPolicy(
    {
      name: "mcp-internal-default-deny",
      description: `The ${s.internalNamespace} namespace has a NetworkPolicy denying all ingress and egress by default.`,
      check: (resources) => {
        const ns = resources.find(
          (r) => r.type === TYPE.k8sNamespace && r.props.metadata?.name === s.internalNamespace,
        );
        if (ns === undefined) return [];
        const policies = resources.filter((r) => r.type === TYPE.k8sNetworkPolicy);
        if (policies.some((np) => isDefaultDeny(np, s.internalNamespace))) return [];
        return [
          `${displayName(ns)}: namespace ${s.internalNamespace} has no default-deny NetworkPolicy (empty podSelector, Ingress and Egress, no rules)`,
        ];
      },
    },
    opts,
  );
}

/** No Service except haproxy's is LoadBalancer or NodePort. */
export function noPublicServices(
  s: IsolationSettings = DEFAULT_ISOLATION,
  opts?: RuleOptions,
): ResourceValidationPolicy {
  return resourcePolicy(
    {
      name: "no-public-services",
      description: `Only a Service selecting ${s.frontDoorService}'s pods may be LoadBalancer or NodePort.`,
      types: [TYPE.k8sService],
      check: (r) => {
        const type = r.props.spec?.type;
        if (type !== "LoadBalancer" && type !== "NodePort") return [];
        // The front door is whatever selects its pods, whatever the Service is called.
        if (r.props.spec?.selector?.["app.kubernetes.io/name"] === s.frontDoorService) return [];
        return [
          `${displayName(r)}: Service type ${type} is reserved for ${s.frontDoorService}'s pods; use ClusterIP`,
        ];
      },
    },
    opts,
  );
}

/** No pod uses hostNetwork or hostPort, and no container the host's network. */
export function noHostNetworking(opts?: RuleOptions): ResourceValidationPolicy {
  return resourcePolicy(
    {
      name: "no-host-networking",
      description: "No pod uses hostNetwork or hostPort; no Docker container uses the host network.",
      types: [...WORKLOAD_TYPES, TYPE.dockerContainer],
      check: (r) => {
        if (r.type === TYPE.dockerContainer) {
          return r.props.networkMode === "host" ? [`${displayName(r)}: uses the host network`] : [];
        }
        const pod = podSpecOf(r);
        if (pod === undefined) return [];
        const found = pod.hostNetwork === true ? [`${displayName(r)}: pod uses hostNetwork`] : [];
        for (const c of containersOf(pod)) {
          for (const p of c.ports ?? []) {
            if (p.hostPort !== undefined)
              found.push(`${displayName(r)}: container ${c.name} uses hostPort ${p.hostPort}`);
          }
        }
        return found;
      },
    },
    opts,
  );
}
