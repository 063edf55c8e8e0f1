/**
 * The EKS cluster: control plane on the VPC's subnets (nodes private, load balancers public), an
 * IAM OIDC provider for IRSA, the VPC CNI with NetworkPolicy enforcement on, and one managed node
 * group per availability zone, together sized from `eks.nodeGroup`. It hands out a Kubernetes
 * provider for everything in-cluster.
 *
 * One group per zone, not one group across the zones: a Consul server is bound to the zone of
 * its EBS volume, and Cluster Autoscaler can only add a node in a given zone through a group
 * that launches there (a multi-zone group launches wherever EC2 picks). Its
 * `balance-similar-node-groups` keeps the zonal groups at about the same size.
 */
import * as aws from "@pulumi/aws";
import * as eks from "@pulumi/eks";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { Eks } from "../config";
import { subnetOfZone } from "./network";

/** A node group's CPU architecture, and what follows from it. */
export interface NodeArchitecture {
  readonly arch: "amd64" | "arm64";
  /** The managed node group's AMI type (Amazon Linux 2023). */
  readonly amiType: string;
  /** The platform images must be built for. */
  readonly platform: string;
}

/**
 * The architecture of an EC2 instance type: Graviton families carry a `g` right after the
 * generation (`m7g`, `c6gn`, `t4g`, `r8gd`); everything else here is x86-64.
 */
export function nodeArchitecture(instanceType: string): NodeArchitecture {
  const family = instanceType.split(".")[0] ?? instanceType;
  const arm = /^[a-z]+\d+g/.test(family);
  return arm
    ? { arch: "arm64", amiType: "AL2023_ARM_64_STANDARD", platform: "linux/arm64" }
    : { arch: "amd64", amiType: "AL2023_x86_64_STANDARD", platform: "linux/amd64" };
}

/** One zone's node group size. */
export interface ZoneScaling {
  readonly minSize: number;
  readonly desiredSize: number;
  readonly maxSize: number;
}

/**
 * Each zone's share of `eks.nodeGroup`'s sizes: the zones' minimums, starting counts and maximums
 * add up to the configured totals, spread as evenly as counts allow with the first zones taking
 * the remainder. The same spread for all three keeps each zone's min ≤ desired ≤ max when the
 * totals are so ordered; a zone may start at zero nodes (its group then scales up from zero) but
 * needs a maximum of at least one, so `maxSize` is at least the number of zones (checked with
 * the config).
 */
export function zoneScaling(
  sizes: Pick<Eks["nodeGroup"], "minSize" | "desiredSize" | "maxSize">,
  zones: number,
): ZoneScaling[] {
  const share = (total: number, zone: number) => Math.floor(total / zones) + (zone < total % zones ? 1 : 0);
  return Array.from({ length: zones }, (_, zone) => ({
    minSize: share(sizes.minSize, zone),
    desiredSize: share(sizes.desiredSize, zone),
    maxSize: share(sizes.maxSize, zone),
  }));
}

/** Policies every worker node needs: join the cluster, run the VPC CNI, pull from ECR. */
export const NODE_POLICIES = [
  aws.iam.ManagedPolicy.AmazonEKSWorkerNodePolicy,
  aws.iam.ManagedPolicy.AmazonEKS_CNI_Policy,
  aws.iam.ManagedPolicy.AmazonEC2ContainerRegistryReadOnly,
] as const;

/** Arguments of `EksCluster`. */
export interface EksClusterArgs {
  readonly vpcId: pulumi.Input<string>;
  readonly publicSubnetIds: pulumi.Input<string[]>;
  /** One per availability zone, in zone order. */
  readonly privateSubnetIds: pulumi.Input<string[]>;
  /** How many availability zones (and private subnets) the VPC has. */
  readonly zoneCount: number;
  /** Kubernetes minor version, such as `1.33`. */
  readonly kubernetesVersion: string;
  readonly nodeGroup: Eks["nodeGroup"];
}

/** The control plane, the zonal node groups and a Kubernetes provider bound to the cluster. */
export class EksCluster extends pulumi.ComponentResource {
  readonly cluster: eks.Cluster;
  /** One per availability zone, in zone order. */
  readonly nodeGroups: eks.ManagedNodeGroup[];
  /** The provider for every in-cluster object; it waits for the node groups. */
  readonly provider: k8s.Provider;
  /** The admin kubeconfig (JSON), as a secret. */
  readonly kubeconfig: pulumi.Output<string>;
  readonly clusterName: pulumi.Output<string>;
  readonly oidcProviderArn: pulumi.Output<string>;
  /** The OIDC issuer without `https://`, as IRSA trust policies name it. */
  readonly oidcIssuer: pulumi.Output<string>;
  readonly architecture: NodeArchitecture;

  constructor(name: string, args: EksClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mcp-platform:eks:EksCluster", name, {}, opts);
    this.architecture = nodeArchitecture(args.nodeGroup.instanceType);

    const nodeRole = new aws.iam.Role(
      `${name}-node`,
      {
        description: "EKS worker nodes of the MCP Platform",
        assumeRolePolicy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" },
          ],
        }),
      },
      { parent: this },
    );
    const attachments = NODE_POLICIES.map(
      (policyArn, i) =>
        new aws.iam.RolePolicyAttachment(
          `${name}-node-${i}`,
          { role: nodeRole.name, policyArn },
          { parent: this },
        ),
    );

    this.cluster = new eks.Cluster(
      `${name}-eks`,
      {
        version: args.kubernetesVersion,
        vpcId: args.vpcId,
        publicSubnetIds: args.publicSubnetIds,
        privateSubnetIds: args.privateSubnetIds,
        nodeAssociatePublicIpAddress: false,
        skipDefaultNodeGroup: true,
        authenticationMode: eks.AuthenticationMode.Api,
        createOidcProvider: true,
        // The VPC CNI add-on enforces NetworkPolicies (its node agent); off by default on EKS. The
        // component manages the add-on only when it does not use EKS's default CNI: without
        // that, the options would be ignored and no policy enforced.
        useDefaultVpcCni: false,
        vpcCniOptions: { enableNetworkPolicy: true },
        enabledClusterLogTypes: ["api", "audit", "authenticator"],
      },
      { parent: this },
    );

    this.nodeGroups = zoneScaling(args.nodeGroup, args.zoneCount).map(
      (scaling, zone) =>
        new eks.ManagedNodeGroup(
          `${name}-nodes-${zone}`,
          {
            cluster: this.cluster,
            nodeRole,
            instanceTypes: [args.nodeGroup.instanceType],
            amiType: this.architecture.amiType,
            subnetIds: [subnetOfZone(args.privateSubnetIds, zone)],
            scalingConfig: scaling,
            // Cluster Autoscaler owns the node count between minSize and maxSize: `pulumi up` sets
            // desiredSize when it creates the group and leaves it alone afterwards.
            ignoreScalingChanges: true,
          },
          { parent: this, dependsOn: attachments },
        ),
    );

    this.provider = new k8s.Provider(
      `${name}-k8s`,
      { kubeconfig: this.cluster.kubeconfigJson, enableServerSideApply: true },
      { parent: this, dependsOn: this.nodeGroups },
    );
    this.kubeconfig = pulumi.secret(this.cluster.kubeconfigJson);
    this.clusterName = this.cluster.eksCluster.name;
    this.oidcProviderArn = this.cluster.oidcProviderArn;
    this.oidcIssuer = this.cluster.oidcIssuer;
    this.registerOutputs({ clusterName: this.clusterName, kubeconfig: this.kubeconfig });
  }
}
