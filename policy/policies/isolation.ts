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
  carriesLabels,
  containersOf,
  displayName,
  dockerLabelsOf,
  dockerNetworksOf,
  dockerRoleOf,
  NAME_LABEL,
  podSpecOf,
  TYPE,
  WORKLOAD_TYPES,
} from "./resources";
import type { EgressPeer, IsolationSettings } from "./settings";
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
  const types: string[] = spec.policyTypes ?? [];
  return (
    meta.namespace === namespace &&
    selectsEverything(spec.podSelector) &&
    types.includes("Ingress") &&
    types.includes("Egress") &&
    (spec.ingress ?? []).length === 0 &&
    (spec.egress ?? []).length === 0
  );
}

/** A label selector that matches everything: present, with no labels and no expressions. */
function selectsEverything(selector: Record<string, any> | undefined): boolean {
  return (
    selector !== undefined &&
    Object.keys(selector.matchLabels ?? {}).length === 0 &&
    (selector.matchExpressions ?? []).length === 0
  );
}

/** True when `peer` selects (a subset of) the pods `allowed` names, seen from `namespace`. */
function isAllowedPeer(peer: Record<string, any>, allowed: EgressPeer, namespace: string): boolean {
  if (peer.ipBlock !== undefined || peer.podSelector === undefined) return false;
  const target = allowed.namespace ?? namespace;
  // No namespaceSelector means the policy's own namespace; selector terms only ever narrow.
  const peerNamespace =
    peer.namespaceSelector === undefined
      ? namespace
      : peer.namespaceSelector.matchLabels?.["kubernetes.io/metadata.name"];
  if (peerNamespace !== target) return false;
  const labels: Record<string, unknown> = peer.podSelector.matchLabels ?? {};
  return carriesLabels(labels, allowed.podLabels);
}

/**
 * What a NetworkPolicy in the internal namespace opens beyond DESIGN's rules. NetworkPolicies are
 * additive, so one allow-all rule next to the default-deny opens the whole namespace: a rule
 * with no peers admits every peer, an `ipBlock` admits addresses outside the cluster's pods, and
 * an empty `namespaceSelector` every namespace. Egress goes only to kube-dns, Consul and the MCP
 * services (DESIGN "mcp-internal egress").
 */
function openings(np: PolicySubject, s: IsolationSettings): string[] {
  const spec = np.props.spec ?? {};
  const found: string[] = [];
  for (const [direction, peersKey] of [
    ["ingress", "from"],
    ["egress", "to"],
  ] as const) {
    (spec[direction] ?? []).forEach((rule: Record<string, any>, i: number) => {
      const peers: Record<string, any>[] = rule?.[peersKey] ?? [];
      const where = `${displayName(np)}: ${direction}[${i}]`;
      if (peers.length === 0) {
        found.push(`${where} has no ${peersKey} peers, so it admits every peer`);
        return;
      }
      peers.forEach((peer, j) => {
        const at = `${where}.${peersKey}[${j}]`;
        if (peer.ipBlock !== undefined) found.push(`${at} uses an ipBlock (${JSON.stringify(peer.ipBlock)})`);
        else if (peer.namespaceSelector !== undefined && selectsEverything(peer.namespaceSelector))
          found.push(`${at} has an empty namespaceSelector, which selects every namespace`);
        else if (peer.podSelector === undefined && peer.namespaceSelector === undefined)
          found.push(`${at} selects nothing in particular, so it admits every peer`);
        else if (
          direction === "egress" &&
          !s.internalEgressPeers.some((a) => isAllowedPeer(peer, a, s.internalNamespace))
        ) {
          found.push(
            `${at} reaches ${JSON.stringify(peer)}; egress may reach only ${s.internalEgressPeers.map((a) => a.what).join(", ")}`,
          );
        }
      });
    });
  }
  return found;
}

/**
 * In prod, the `mcp-internal` namespace has a default-deny NetworkPolicy and no other
 * NetworkPolicy there opens it beyond DESIGN's rules.
 */
export function internalNamespaceDefaultDeny(
  s: IsolationSettings = DEFAULT_ISOLATION,
  opts?: RuleOptions,
): StackValidationPolicy {
  return stackPolicy(
    {
      name: "mcp-internal-default-deny",
      description: `The ${s.internalNamespace} namespace has a NetworkPolicy denying all ingress and egress by default, and no NetworkPolicy there admits every peer, an ipBlock, every namespace or egress beyond DNS, Consul and the MCP services.`,
      check: (resources) => {
        const inNamespace = (r: PolicySubject) => r.props.metadata?.namespace === s.internalNamespace;
        const policies = resources.filter((r) => r.type === TYPE.k8sNetworkPolicy && inNamespace(r));
        const found = policies.flatMap((np) => openings(np, s));
        const ns = resources.find(
          (r) => r.type === TYPE.k8sNamespace && r.props.metadata?.name === s.internalNamespace,
        );
        // The namespace may come from outside the stack; its workloads still need the deny.
        const workloads = resources.filter((r) => WORKLOAD_TYPES.includes(r.type) && inNamespace(r));
        if (ns === undefined && workloads.length === 0) return found;
        if (policies.some((np) => isDefaultDeny(np, s.internalNamespace))) return found;
        const subject =
          ns !== undefined
            ? displayName(ns)
            : `${workloads.map(displayName).sort().join(", ")} (no Namespace resource declared)`;
        return [
          `${subject}: namespace ${s.internalNamespace} has no default-deny NetworkPolicy (empty podSelector, Ingress and Egress, no rules)`,
          ...found,
        ];
      },
    },
    opts,
  );
}

/** Keys under a Helm release's values that set a Service type, with the type: `ui.service.type`. */
function helmServiceTypes(values: unknown, path: string[] = []): { key: string; type: string }[] {
  if (values === null || typeof values !== "object") return [];
  return Object.entries(values as Record<string, unknown>).flatMap(([k, v]) => {
    const here = [...path, k];
    const parent = path[path.length - 1] ?? "";
    if (k === "type" && typeof v === "string" && /service$/i.test(parent))
      return [{ key: here.join("."), type: v }];
    return helmServiceTypes(v, here);
  });
}

const PUBLIC_TYPES = ["LoadBalancer", "NodePort"];

/**
 * Nothing is public but one LoadBalancer Service in front of haproxy's pods, in the platform
 * namespace (a Service elsewhere could select pods labelled `haproxy` that are something else).
 * No NodePort, no `externalIPs`, no Ingress, and no Helm release that makes its own public Service.
 */
export function noPublicServices(
  s: IsolationSettings = DEFAULT_ISOLATION,
  opts?: RuleOptions,
): StackValidationPolicy {
  const frontDoor = `${s.frontDoorService}'s pods in ${s.platformNamespace}`;
  return stackPolicy(
    {
      name: "no-public-services",
      description: `Only one LoadBalancer Service, selecting ${frontDoor}, is public: no NodePort, externalIPs, Ingress or public Service from a Helm release.`,
      check: (resources) => {
        const found: string[] = [];
        const loadBalancers: string[] = [];
        for (const r of resources) {
          if (r.type === TYPE.k8sIngress) {
            found.push(
              `${displayName(r)}: an Ingress is public; only ${frontDoor} may be, through its LoadBalancer`,
            );
          } else if (r.type === TYPE.helmRelease) {
            for (const { key, type } of helmServiceTypes(r.props.values)) {
              if (PUBLIC_TYPES.includes(type))
                found.push(`${displayName(r)}: Helm value ${key} is ${type}; use ClusterIP`);
            }
          } else if (r.type === TYPE.k8sService) {
            const spec = r.props.spec ?? {};
            if ((spec.externalIPs ?? []).length > 0)
              found.push(
                `${displayName(r)}: sets externalIPs ${JSON.stringify(spec.externalIPs)}; nothing may be public but ${frontDoor}`,
              );
            if (spec.type === "NodePort")
              found.push(
                `${displayName(r)}: Service type NodePort opens a port on every node; use ClusterIP`,
              );
            if (spec.type !== "LoadBalancer") continue;
            loadBalancers.push(displayName(r));
            // The front door is whatever selects its pods in its namespace, whatever it is called.
            if (
              r.props.metadata?.namespace !== s.platformNamespace ||
              spec.selector?.[NAME_LABEL] !== s.frontDoorService
            ) {
              found.push(
                `${displayName(r)}: Service type LoadBalancer is reserved for ${frontDoor}; use ClusterIP`,
              );
            }
          }
        }
        if (loadBalancers.length > 1) {
          found.push(
            `${loadBalancers.length} LoadBalancer Services (${loadBalancers.sort().join(", ")}); only one, for ${frontDoor}, may exist`,
          );
        }
        return found;
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
