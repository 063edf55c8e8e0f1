/**
 * Cluster add-ons the platform needs and EKS does not install, each from a pinned Helm chart:
 *
 * - metrics-server, which the HPAs read CPU and memory from (DESIGN "Known pitfalls");
 * - the AWS Load Balancer Controller, with its IRSA role, which turns HAProxy's `LoadBalancer`
 *   Service into an NLB and injects readiness gates so rollouts wait for NLB target health;
 * - Cluster Autoscaler, with its IRSA role, which adds nodes (up to the zonal node groups' `maxSize`)
 *   when HPAs scale out past what the nodes hold, and removes idle ones (down to `minSize`).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { Eks } from "../config";
import type { ServiceAccountRef } from "./irsa";
import { IrsaRole, irsaServiceAccountValues } from "./irsa";
import { loadBalancerControllerPolicy } from "./lbc-policy";

/** A chart's coordinates and the namespace it is installed in; versions come from `eks.charts`. */
export interface ChartSource {
  readonly chart: string;
  readonly repo: string;
  readonly namespace: string;
}

/** Where the add-on charts come from. */
export const ADDON_CHARTS = {
  metricsServer: {
    chart: "metrics-server",
    repo: "https://kubernetes-sigs.github.io/metrics-server/",
    namespace: "kube-system",
  },
  awsLoadBalancerController: {
    chart: "aws-load-balancer-controller",
    repo: "https://aws.github.io/eks-charts",
    namespace: "kube-system",
  },
  clusterAutoscaler: {
    chart: "cluster-autoscaler",
    repo: "https://kubernetes.github.io/autoscaler",
    namespace: "kube-system",
  },
} as const satisfies Record<string, ChartSource>;

/** Cluster Autoscaler's service account, which its IRSA role trusts. */
export const CLUSTER_AUTOSCALER_SERVICE_ACCOUNT = {
  namespace: "kube-system",
  name: "cluster-autoscaler",
} as const;

/**
 * Cluster Autoscaler's AWS permissions (its AWS guide's minimal policy): read the Auto Scaling
 * groups, launch templates and instance types everywhere; resize and terminate instances only in
 * the groups tagged as this cluster's, which EKS tags every managed node group's group with.
 */
export function clusterAutoscalerPolicy(clusterName: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Action: [
          "autoscaling:DescribeAutoScalingGroups",
          "autoscaling:DescribeAutoScalingInstances",
          "autoscaling:DescribeLaunchConfigurations",
          "autoscaling:DescribeScalingActivities",
          "autoscaling:DescribeTags",
          "ec2:DescribeImages",
          "ec2:DescribeInstanceTypes",
          "ec2:DescribeLaunchTemplateVersions",
          "ec2:GetInstanceTypesFromInstanceRequirements",
          "eks:DescribeNodegroup",
        ],
        Resource: "*",
      },
      {
        Effect: "Allow",
        Action: ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
        Resource: "*",
        Condition: {
          StringEquals: { [`aws:ResourceTag/k8s.io/cluster-autoscaler/${clusterName}`]: "owned" },
        },
      },
    ],
  });
}

/** What Cluster Autoscaler's values need. */
export interface ClusterAutoscalerValuesArgs {
  readonly clusterName: string;
  readonly region: string;
  /** The pinned image, `repository:tag`. */
  readonly image: string;
  readonly roleArn: string;
}

/**
 * Cluster Autoscaler values: the node groups found by the cluster's tags, its IRSA role, and:
 * - `skip-nodes-with-local-storage=false`: every pod here has an `emptyDir` /tmp, which would
 *   otherwise keep every node from ever being removed;
 * - `balance-similar-node-groups` and the `least-waste` expander, the AWS guide's defaults;
 * - one replica at a time with leader election (two pods, so a node drain keeps one).
 */
export function clusterAutoscalerValues(args: ClusterAutoscalerValuesArgs): Record<string, unknown> {
  const at = args.image.lastIndexOf(":");
  return {
    cloudProvider: "aws",
    awsRegion: args.region,
    autoDiscovery: { clusterName: args.clusterName },
    image: { repository: args.image.slice(0, at), tag: args.image.slice(at + 1) },
    replicaCount: 2,
    podDisruptionBudget: { maxUnavailable: 1 },
    rbac: { serviceAccount: irsaServiceAccountValues(CLUSTER_AUTOSCALER_SERVICE_ACCOUNT, args.roleArn) },
    extraArgs: {
      "skip-nodes-with-local-storage": false,
      "balance-similar-node-groups": true,
      expander: "least-waste",
    },
  };
}

/** The controller's service account, which its IRSA role trusts. */
export const LBC_SERVICE_ACCOUNT = {
  namespace: "kube-system",
  name: "aws-load-balancer-controller",
} as const;

/** metrics-server values: two replicas and a PDB, so HPAs keep their metrics through a node drain. */
export function metricsServerValues(): Record<string, unknown> {
  return {
    replicas: 2,
    podDisruptionBudget: { enabled: true, maxUnavailable: 1 },
  };
}

/** What the controller's values need from the cluster. */
export interface LoadBalancerControllerValuesArgs {
  readonly clusterName: string;
  readonly region: string;
  readonly vpcId: string;
  readonly roleArn: string;
}

/**
 * AWS Load Balancer Controller values: the cluster, region and VPC given explicitly (no instance
 * metadata lookups), and the service account bound to its IRSA role.
 */
export function loadBalancerControllerValues(
  args: LoadBalancerControllerValuesArgs,
): Record<string, unknown> {
  return {
    clusterName: args.clusterName,
    region: args.region,
    vpcId: args.vpcId,
    replicaCount: 2,
    serviceAccount: irsaServiceAccountValues(LBC_SERVICE_ACCOUNT, args.roleArn),
  };
}

/** Arguments of `ClusterAddons`. */
export interface ClusterAddonsArgs {
  readonly clusterName: pulumi.Input<string>;
  readonly region: string;
  readonly vpcId: pulumi.Input<string>;
  readonly oidcProviderArn: pulumi.Input<string>;
  readonly oidcIssuer: pulumi.Input<string>;
  /** Pinned chart versions. */
  readonly charts: Eks["charts"];
  /** Cluster Autoscaler's pinned image (`eks.clusterAutoscalerImage`). */
  readonly clusterAutoscalerImage: string;
}

/** metrics-server, the AWS Load Balancer Controller and Cluster Autoscaler. */
export class ClusterAddons extends pulumi.ComponentResource {
  readonly metricsServer: k8s.helm.v3.Release;
  readonly loadBalancerController: k8s.helm.v3.Release;
  readonly clusterAutoscaler: k8s.helm.v3.Release;

  constructor(name: string, args: ClusterAddonsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mcp-platform:eks:ClusterAddons", name, {}, opts);
    const release = (
      key: keyof typeof ADDON_CHARTS,
      values: pulumi.Input<Record<string, unknown>>,
      dependsOn: pulumi.Resource[] = [],
    ) => {
      const source = ADDON_CHARTS[key];
      return new k8s.helm.v3.Release(
        `${name}-${source.chart}`,
        {
          name: source.chart,
          namespace: source.namespace,
          chart: source.chart,
          version: args.charts[key],
          repositoryOpts: { repo: source.repo },
          values,
          atomic: true,
        },
        { parent: this, dependsOn },
      );
    };

    this.metricsServer = release("metricsServer", metricsServerValues());

    /** An IRSA role for one add-on's service account, with a policy of its own. */
    const irsa = (key: string, serviceAccount: ServiceAccountRef, policy: pulumi.Input<string>) =>
      new IrsaRole(
        `${name}-${key}`,
        {
          oidcProviderArn: args.oidcProviderArn,
          oidcIssuer: args.oidcIssuer,
          serviceAccounts: [serviceAccount],
          policy,
        },
        { parent: this },
      );
    const role = irsa("lbc", LBC_SERVICE_ACCOUNT, loadBalancerControllerPolicy());
    this.loadBalancerController = release(
      "awsLoadBalancerController",
      pulumi
        .all([args.clusterName, args.vpcId, role.arn])
        .apply(([clusterName, vpcId, roleArn]) =>
          loadBalancerControllerValues({ clusterName, region: args.region, vpcId, roleArn }),
        ),
      // The role's permissions must be attached before the controller first calls AWS.
      [role],
    );
    const autoscalerRole = irsa(
      "cluster-autoscaler",
      CLUSTER_AUTOSCALER_SERVICE_ACCOUNT,
      pulumi.output(args.clusterName).apply(clusterAutoscalerPolicy),
    );
    this.clusterAutoscaler = release(
      "clusterAutoscaler",
      pulumi.all([args.clusterName, autoscalerRole.arn]).apply(([clusterName, roleArn]) =>
        clusterAutoscalerValues({
          clusterName,
          region: args.region,
          image: args.clusterAutoscalerImage,
          roleArn,
        }),
      ),
      [autoscalerRole],
    );
    this.registerOutputs({
      metricsServer: this.metricsServer.name,
      loadBalancerController: this.loadBalancerController.name,
      clusterAutoscaler: this.clusterAutoscaler.name,
    });
  }
}
