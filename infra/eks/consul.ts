/**
 * Consul in the cluster, from the pinned official Helm chart: a Raft quorum of servers on EBS
 * volumes, the UI, and Consul DNS; no client agents and no service mesh. A plain `consul` Service
 * on the servers gives pods the same name (and port) they use in dev, qualified by namespace
 * (`topology.peerHost`).
 *
 * Services register with a server agent over the HTTP API, and that agent runs their
 * `/health/ready` check, so the servers need ingress to `mcp-internal` (see `network-policy.ts`).
 * An agent's services are its own: the `consul` Service keeps each client pod on one server
 * (`sessionAffinity: ClientIP`), so an instance's registration, its periodic "still held?" check
 * and its deregistration all reach the agent that holds it. Should that server go away, the next
 * check finds the instance missing on the server it reaches now and registers it there.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { Resources } from "../config";
import type { ComponentSpec } from "../topology";
import { CONTAINER_PORT } from "../topology";
import { labelsOf } from "./pod-spec";

/** Where the official chart comes from; the version is `eks.charts.consul`. */
export const CONSUL_CHART = { chart: "consul", repo: "https://helm.releases.hashicorp.com" } as const;

/** The Helm release name; the chart prefixes its objects with `global.name`, set to the same. */
export const CONSUL_RELEASE = "consul";

/** Labels of the chart's server pods (`app` is the chart name, `component` the role). */
export const CONSUL_SERVER_LABELS = { app: "consul", component: "server" } as const;

/** What the Consul values derive from. */
export interface ConsulValuesArgs {
  /** The pinned Consul image (`images.consul`), the same one the dev stack runs. */
  readonly image: string;
  readonly replicas: number;
  readonly storageGi: number;
  /** The block storage class of the servers' volumes. */
  readonly storageClass: string;
  readonly resources: Resources;
}

/**
 * Helm values for the chart: servers only, sized from config, with the UI and Consul DNS on and
 * gossip encrypted. ACLs and TLS stay off as in dev: only the platform's own pods reach Consul, and
 * NetworkPolicies keep `mcp-internal` from reaching anything else.
 */
export function consulValues(args: ConsulValuesArgs): Record<string, unknown> {
  return {
    global: {
      name: CONSUL_RELEASE,
      image: args.image,
      datacenter: "dc1",
      logJSON: true,
      gossipEncryption: { autoGenerate: true },
    },
    server: {
      replicas: args.replicas,
      bootstrapExpect: args.replicas,
      storage: `${args.storageGi}Gi`,
      storageClass: args.storageClass,
      resources: { requests: { ...args.resources.requests }, limits: { ...args.resources.limits } },
    },
    client: { enabled: false },
    ui: { enabled: true, service: { type: "ClusterIP" } },
    dns: { enabled: true },
    connectInject: { enabled: false },
    syncCatalog: { enabled: false },
  };
}

/** The `consul` Service: the servers' HTTP API and DNS under the component's own name. */
export function consulServiceSpec(spec: ComponentSpec): k8s.types.input.core.v1.ServiceSpec {
  return {
    type: "ClusterIP",
    selector: { ...CONSUL_SERVER_LABELS },
    sessionAffinity: "ClientIP",
    ports: [
      { name: "http", port: spec.port, targetPort: spec.port, protocol: "TCP" },
      {
        name: "dns-tcp",
        port: CONTAINER_PORT.consulDns,
        targetPort: CONTAINER_PORT.consulDns,
        protocol: "TCP",
      },
      {
        name: "dns-udp",
        port: CONTAINER_PORT.consulDns,
        targetPort: CONTAINER_PORT.consulDns,
        protocol: "UDP",
      },
    ],
  };
}

/** Arguments of `ConsulCluster`. */
export interface ConsulClusterArgs extends ConsulValuesArgs {
  /** The topology's `consul` component. */
  readonly spec: ComponentSpec;
  readonly namespace: string;
  /** The pinned chart version (`eks.charts.consul`). */
  readonly chartVersion: string;
}

/** The Consul servers (Helm release) and the `consul` Service in front of them. */
export class ConsulCluster extends pulumi.ComponentResource {
  readonly release: k8s.helm.v3.Release;
  readonly service: k8s.core.v1.Service;

  constructor(name: string, args: ConsulClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mcp-platform:eks:ConsulCluster", name, {}, opts);
    this.release = new k8s.helm.v3.Release(
      `${name}-release`,
      {
        name: CONSUL_RELEASE,
        namespace: args.namespace,
        chart: CONSUL_CHART.chart,
        version: args.chartVersion,
        repositoryOpts: { repo: CONSUL_CHART.repo },
        values: consulValues(args),
        // Roll back a failed upgrade instead of leaving a half-applied quorum.
        atomic: true,
        timeout: 900,
      },
      { parent: this },
    );
    this.service = new k8s.core.v1.Service(
      `${name}-service`,
      {
        metadata: { name: args.spec.name, namespace: args.namespace, labels: labelsOf(args.spec) },
        spec: consulServiceSpec(args.spec),
      },
      // A fixed name cannot exist twice, so a replacement must delete first.
      { parent: this, deleteBeforeReplace: true, dependsOn: [this.release] },
    );
    this.registerOutputs({ release: this.release.name, service: this.service.metadata.name });
  }
}
