/**
 * The prod target: the whole platform on AWS EKS, wired from the same topology as the dev stack.
 *
 * VPC → cluster (+ OIDC, VPC CNI with NetworkPolicy) → storage drivers and add-ons → namespaces →
 * ECR images → Consul → HAProxy behind an internet-facing NLB → router, MCP services and monitor
 * (Deployments with HPAs and PDBs) → NetworkPolicies. Every AWS resource uses one provider built
 * from `eks.region`; every in-cluster object uses the cluster's Kubernetes provider.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { claudeCodeCommand, cursorConfig } from "../client-config";
import type { Eks } from "../config";
import { resolveSecretEnv } from "../secrets";
import type { ComponentSpec, PublishedPort, Topology } from "../topology";
import { component, NAMESPACE, namespaceOf } from "../topology";
import { ClusterAddons } from "./addons";
import { EksCluster } from "./cluster";
import { ConsulCluster } from "./consul";
import { FrontDoor, publicHostEnv } from "./front-door";
import { PlatformNamespaces } from "./namespaces";
import { EksNetwork } from "./network";
import { InternalNetworkPolicies } from "./network-policy";
import { IMAGE_USER } from "./pod-spec";
import { ImageRegistry } from "./registry";
import { ClusterStorage, STORAGE_CLASS } from "./storage";
import { KubernetesWorkload } from "./workload";

/** The command that forwards one of a component's published ports to the same local port. */
export function portForwardCommand(spec: ComponentSpec, port: PublishedPort): string {
  return `kubectl --namespace ${namespaceOf(spec)} port-forward svc/${spec.name} ${port.host}:${port.container}`;
}

/**
 * How to reach what the dev stack publishes on loopback but prod keeps in the cluster: the
 * dashboard, the Consul UI and the HAProxy stats page, each on its dev port.
 */
export function portForwardCommands(topology: Topology): Record<string, string> {
  const first = (name: string, pick: (p: PublishedPort, spec: ComponentSpec) => boolean) => {
    const spec = component(topology, name);
    const port = spec.hostPorts.find((p) => pick(p, spec));
    if (port === undefined) throw new Error(`component "${name}" publishes no such port`);
    return portForwardCommand(spec, port);
  };
  return {
    dashboard: first("network-monitor", () => true),
    consul: first("consul", () => true),
    haproxyStats: first("haproxy", (p, spec) => p.container === spec.healthPort),
  };
}

/** Arguments of `ProdStack`. */
export interface ProdStackArgs {
  readonly topology: Topology;
  readonly eks: Eks;
  /** Repository root, the images' build context. */
  readonly context: string;
  /** Tag pushed with each image (workloads use the digest). */
  readonly imageTag: string;
  /** ECR repository name prefix, e.g. `mcp-platform/prod`. */
  readonly repositoryPrefix: string;
}

/** The prod stack on EKS. */
export class ProdStack extends pulumi.ComponentResource {
  readonly gatewayUrl: pulumi.Output<string>;
  readonly cursorConfig: pulumi.Output<string>;
  readonly claudeCodeCommand: pulumi.Output<string>;
  readonly serviceUrls: pulumi.Output<Record<string, string>>;
  /** The NLB's DNS name. */
  readonly loadBalancerHostname: pulumi.Output<string>;
  /** The admin kubeconfig, as a secret. */
  readonly kubeconfig: pulumi.Output<string>;
  readonly portForward: Record<string, string>;
  readonly haproxyConfig: string;
  readonly workloads: Record<string, KubernetesWorkload>;
  /** Every Deployment as `<namespace>/<name>`, once created. */
  readonly deployments: pulumi.Output<string[]>;

  constructor(name: string, args: ProdStackArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mcp-platform:eks:ProdStack", name, {}, opts);
    const { topology, eks } = args;

    const awsProvider = new aws.Provider(`${name}-aws`, { region: eks.region }, { parent: this });
    const onAws = { parent: this, providers: { aws: awsProvider } };
    const network = new EksNetwork(
      `${name}-network`,
      { cidrBlock: eks.vpcCidr, availabilityZones: eks.availabilityZones },
      onAws,
    );
    const cluster = new EksCluster(
      `${name}-cluster`,
      {
        vpcId: network.vpcId,
        publicSubnetIds: network.publicSubnetIds,
        privateSubnetIds: network.privateSubnetIds,
        zoneCount: eks.availabilityZones,
        kubernetesVersion: eks.kubernetesVersion,
        nodeGroup: eks.nodeGroup,
      },
      onAws,
    );
    const inCluster = { parent: this, providers: { aws: awsProvider, kubernetes: cluster.provider } };

    const storage = new ClusterStorage(
      `${name}-storage`,
      {
        cluster: cluster.cluster,
        oidcProviderArn: cluster.oidcProviderArn,
        oidcIssuer: cluster.oidcIssuer,
        vpcId: network.vpcId,
        vpcCidr: eks.vpcCidr,
        privateSubnetIds: network.privateSubnetIds,
        subnetCount: eks.availabilityZones,
        sharedUid: IMAGE_USER.build,
        backups: eks.backups,
      },
      inCluster,
    );
    const addons = new ClusterAddons(
      `${name}-addons`,
      {
        clusterName: cluster.clusterName,
        region: eks.region,
        vpcId: network.vpcId,
        oidcProviderArn: cluster.oidcProviderArn,
        oidcIssuer: cluster.oidcIssuer,
        charts: eks.charts,
        clusterAutoscalerImage: eks.clusterAutoscalerImage,
      },
      inCluster,
    );
    // The controller's webhook admits pods in `mcp-platform` (readiness gates) and every
    // LoadBalancer Service, so both wait for it. The namespaces also wait for the storage drivers:
    // on `pulumi destroy` they then go first, and the claims they hold (Consul's EBS volumes, the
    // services' EFS) are deleted while a driver is still there to delete their volumes.
    const namespaces = new PlatformNamespaces(
      `${name}-namespaces`,
      {},
      { ...inCluster, dependsOn: [addons.loadBalancerController, ...storage.ready] },
    ).namespaces;

    const registry = new ImageRegistry(
      `${name}-registry`,
      {
        builds: topology.images,
        context: args.context,
        repositoryPrefix: args.repositoryPrefix,
        tag: args.imageTag,
        platform: cluster.architecture.platform,
      },
      onAws,
    );

    const consulSpec = component(topology, "consul");
    if (consulSpec.image.kind !== "registry" || consulSpec.resources === undefined) {
      throw new Error("consul must run its upstream image with requests and limits");
    }
    const consul = new ConsulCluster(
      `${name}-consul`,
      {
        spec: consulSpec,
        namespace: namespaceOf(consulSpec),
        chartVersion: eks.charts.consul,
        image: consulSpec.image.ref,
        replicas: eks.consul.replicas,
        storageGi: eks.consul.storageGi,
        storageClass: STORAGE_CLASS.block,
        resources: consulSpec.resources,
      },
      { ...inCluster, dependsOn: [namespaces[NAMESPACE.platform], ...storage.ready] },
    );

    // The front door first: the router and services must accept its load balancer's host name.
    const frontDoor = new FrontDoor(
      `${name}-front-door`,
      {
        topology,
        namespace: NAMESPACE.platform,
        exposeServicePorts: eks.exposeServicePorts,
        ...(eks.tls === undefined ? {} : { tls: eks.tls }),
      },
      { ...inCluster, dependsOn: [namespaces[NAMESPACE.platform], addons.loadBalancerController] },
    );

    this.workloads = {};
    for (const spec of topology.components) {
      if (spec.image.kind !== "build") continue; // consul: the chart; haproxy: the front door
      const namespace = namespaceOf(spec);
      this.workloads[spec.name] = new KubernetesWorkload(
        spec.name,
        {
          spec,
          namespace,
          image: registry.refs[spec.image.service],
          secretEnv: resolveSecretEnv(spec, this),
          deployEnv: publicHostEnv(spec, frontDoor.allowedHosts),
          sharedStorageClass: STORAGE_CLASS.shared,
        },
        {
          ...inCluster,
          // Services register in Consul as they start; claims need the shared storage class.
          dependsOn: [namespaces[namespace], consul, ...storage.ready],
        },
      );
    }

    new InternalNetworkPolicies(
      `${name}-network-policies`,
      {
        topology,
        ...(eks.metricsScraper === undefined ? {} : { scraperNamespace: eks.metricsScraper.namespace }),
      },
      { ...inCluster, dependsOn: [namespaces[NAMESPACE.internal]] },
    );

    this.workloads[component(topology, "haproxy").name] = frontDoor.workload;

    this.haproxyConfig = frontDoor.haproxyConfig;
    this.gatewayUrl = frontDoor.gatewayUrl;
    this.cursorConfig = this.gatewayUrl.apply((url) => cursorConfig(url));
    this.claudeCodeCommand = this.gatewayUrl.apply((url) => claudeCodeCommand(url));
    this.serviceUrls = frontDoor.serviceUrls;
    this.loadBalancerHostname = frontDoor.hostname;
    this.kubeconfig = cluster.kubeconfig;
    this.portForward = portForwardCommands(topology);
    this.deployments = pulumi.all(
      Object.values(this.workloads).map(
        (w) => pulumi.interpolate`${w.deployment.metadata.namespace}/${w.deployment.metadata.name}`,
      ),
    );
    this.registerOutputs({
      gatewayUrl: this.gatewayUrl,
      kubeconfig: this.kubeconfig,
      deployments: this.deployments,
    });
  }
}
