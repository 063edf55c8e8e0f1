/**
 * Cluster add-ons the platform needs and EKS does not install, each from a pinned Helm chart:
 *
 * - metrics-server, which the HPAs read CPU and memory from (DESIGN "Known pitfalls");
 * - the AWS Load Balancer Controller, with its IRSA role, which turns HAProxy's `LoadBalancer`
 *   Service into an NLB and injects readiness gates so rollouts wait for NLB target health.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { Eks } from "../config";
import { IrsaRole } from "./irsa";
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
} as const satisfies Record<string, ChartSource>;

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
    serviceAccount: {
      create: true,
      name: LBC_SERVICE_ACCOUNT.name,
      annotations: { "eks.amazonaws.com/role-arn": args.roleArn },
    },
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
}

/** metrics-server and the AWS Load Balancer Controller. */
export class ClusterAddons extends pulumi.ComponentResource {
  readonly metricsServer: k8s.helm.v3.Release;
  readonly loadBalancerController: k8s.helm.v3.Release;

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

    const role = new IrsaRole(
      `${name}-lbc`,
      {
        oidcProviderArn: args.oidcProviderArn,
        oidcIssuer: args.oidcIssuer,
        serviceAccounts: [LBC_SERVICE_ACCOUNT],
        policy: loadBalancerControllerPolicy(),
      },
      { parent: this },
    );
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
    this.registerOutputs({
      metricsServer: this.metricsServer.name,
      loadBalancerController: this.loadBalancerController.name,
    });
  }
}
