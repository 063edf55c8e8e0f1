/**
 * NetworkPolicies that make the `mcp-internal` namespace what the internal Docker network is in
 * dev (DESIGN "Prod stack"): nothing gets in or out unless a rule names it.
 *
 * - default deny, ingress and egress, for every pod in `mcp-internal`;
 * - every pod may reach cluster DNS and Consul's HTTP API (registration, discovery);
 * - HAProxy may reach the router's port and each MCP service's port;
 * - the router may reach each MCP service's port, and the other router replicas on the router's
 *   port (a legacy SSE POST goes to the replica holding its stream, a cancellation to the one
 *   running the call: DESIGN "Legacy SSE across replicas", "Cancellation across replicas");
 * - the monitor and the Consul servers (which run the registered `/health/ready` checks) may reach
 *   each pod's health port, and so may the metrics scraper's namespace when `eks.metricsScraper`
 *   names one (the health port also serves `/metrics`).
 *
 * Kubelet probes need no rule: the VPC CNI's policy agent always admits the node's own address.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { ComponentSpec, Topology } from "../topology";
import { component, healthPortOf, NAMESPACE, namespaceOf } from "../topology";
import { CONSUL_SERVER_LABELS } from "./consul";
import { PART_OF, roleSelector, selectorOf } from "./pod-spec";

type PolicySpec = k8s.types.input.networking.v1.NetworkPolicySpec;
type Peer = k8s.types.input.networking.v1.NetworkPolicyPeer;
type Port = k8s.types.input.networking.v1.NetworkPolicyPort;

/** One NetworkPolicy to create in `mcp-internal`. */
export interface PolicyManifest {
  readonly name: string;
  readonly spec: PolicySpec;
}

/** Every pod of a namespace, by the name label Kubernetes sets on every namespace. */
export function namespacePeer(namespace: string): Peer {
  return { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } } };
}

/** The cluster DNS pods (CoreDNS keeps the `kube-dns` label on EKS). */
export const DNS_PEER: Peer = {
  ...namespacePeer("kube-system"),
  podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
};

/** DNS over UDP and TCP (large answers fall back to TCP). */
export const DNS_PORTS: Port[] = [
  { protocol: "UDP", port: 53 },
  { protocol: "TCP", port: 53 },
];

const tcp = (port: number): Port => ({ protocol: "TCP", port });

/** A peer selecting a component's pods; cross-namespace peers also select the namespace. */
export function peerOf(spec: ComponentSpec): Peer {
  const podSelector = { matchLabels: selectorOf(spec) };
  const ns = namespaceOf(spec);
  if (ns === NAMESPACE.internal) return { podSelector };
  return { ...namespacePeer(ns), podSelector };
}

/**
 * Every NetworkPolicy of `mcp-internal`, derived from the topology; `scraperNamespace` is where
 * a Prometheus (or agent) that scrapes the pods runs, if any.
 */
export function internalNetworkPolicies(topology: Topology, scraperNamespace?: string): PolicyManifest[] {
  const haproxy = component(topology, "haproxy");
  const monitor = component(topology, "network-monitor");
  const consul = component(topology, "consul");
  const router = component(topology, "router");
  const services = topology.components.filter((c) => c.role === "mcp-service");
  const consulServers: Peer = {
    ...peerOf(consul),
    podSelector: { matchLabels: { ...CONSUL_SERVER_LABELS } },
  };
  const checkers = [
    peerOf(monitor),
    consulServers,
    ...(scraperNamespace === undefined ? [] : [namespacePeer(scraperNamespace)]),
  ];

  const ingress = (spec: ComponentSpec, callers: Peer[]): PolicyManifest => ({
    name: `allow-${spec.name}-ingress`,
    spec: {
      podSelector: { matchLabels: selectorOf(spec) },
      policyTypes: ["Ingress"],
      ingress: [
        { from: callers, ports: [tcp(spec.port)] },
        { from: checkers, ports: [tcp(healthPortOf(spec))] },
      ],
    },
  });

  return [
    {
      name: "default-deny-all",
      spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
    },
    {
      name: "allow-dns-and-consul-egress",
      spec: {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [
          { to: [DNS_PEER], ports: DNS_PORTS },
          { to: [consulServers], ports: [tcp(consul.port)] },
        ],
      },
    },
    ingress(router, [peerOf(haproxy), peerOf(router)]),
    {
      name: `allow-${router.name}-egress`,
      spec: {
        podSelector: { matchLabels: selectorOf(router) },
        policyTypes: ["Egress"],
        egress: [
          {
            to: [{ podSelector: { matchLabels: roleSelector("mcp-service") } }],
            ports: services.map((s) => tcp(s.port)),
          },
          { to: [peerOf(router)], ports: [tcp(router.port)] },
        ],
      },
    },
    ...services.map((s) => ingress(s, [peerOf(haproxy), peerOf(router)])),
  ];
}

/** Arguments of `InternalNetworkPolicies`. */
export interface InternalNetworkPoliciesArgs {
  readonly topology: Topology;
  /** `eks.metricsScraper.namespace`. */
  readonly scraperNamespace?: string;
}

/** Creates the policies of `internalNetworkPolicies` in `mcp-internal`. */
export class InternalNetworkPolicies extends pulumi.ComponentResource {
  readonly policies: k8s.networking.v1.NetworkPolicy[];

  constructor(name: string, args: InternalNetworkPoliciesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mcp-platform:eks:InternalNetworkPolicies", name, {}, opts);
    this.policies = internalNetworkPolicies(args.topology, args.scraperNamespace).map(
      (p) =>
        new k8s.networking.v1.NetworkPolicy(
          `${name}-${p.name}`,
          {
            metadata: {
              name: p.name,
              namespace: NAMESPACE.internal,
              labels: { "app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi" },
            },
            spec: p.spec,
          },
          // A fixed name cannot exist twice, so a replacement must delete first.
          { parent: this, deleteBeforeReplace: true },
        ),
    );
    this.registerOutputs({ policies: this.policies.map((p) => p.metadata.name) });
  }
}
