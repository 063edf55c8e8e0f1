/**
 * One topology component on Kubernetes: a Deployment (no `replicas` under an HPA), its Service,
 * its HPA and PodDisruptionBudget, a Secret for its secret env vars, and a shared volume claim when
 * the component has a volume. The Kubernetes counterpart of `docker/workload.ts`.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { ComponentSpec } from "../topology";
import { WorkloadScaling } from "./autoscaling";
import type { PodMount } from "./pod-spec";
import { labelsOf, listenPorts, podTemplate, portName, secretNameOf, selectorOf } from "./pod-spec";

/**
 * Whether the component's Service is headless (`clusterIP: None`): HAProxy resolves the router and
 * MCP services through DNS to their ready pods' IPs, so it balances per pod, not per connection.
 */
export function isHeadless(spec: ComponentSpec): boolean {
  return spec.role !== "infrastructure";
}

/** The component's Service: ClusterIP (headless where HAProxy resolves it), one port per listen port. */
export function serviceSpec(spec: ComponentSpec): k8s.types.input.core.v1.ServiceSpec {
  return {
    type: "ClusterIP",
    ...(isHeadless(spec) ? { clusterIP: "None" } : {}),
    selector: selectorOf(spec),
    ports: listenPorts(spec).map((port) => ({
      name: portName(spec, port),
      port,
      targetPort: portName(spec, port),
      protocol: "TCP",
    })),
  };
}

/**
 * The Deployment spec. Replicas are set only for a fixed-size component; rolling updates add a
 * pod before removing one, so a single-replica front door never drops to zero. A singleton is
 * the exception: its old pod stops before the new one starts, so two never write its state.
 */
export function deploymentSpec(
  spec: ComponentSpec,
  template: k8s.types.input.core.v1.PodTemplateSpec,
): k8s.types.input.apps.v1.DeploymentSpec {
  return {
    ...(spec.autoscaling === undefined ? { replicas: spec.replicas } : {}),
    revisionHistoryLimit: 5,
    selector: { matchLabels: selectorOf(spec) },
    strategy:
      spec.singleton === true
        ? { type: "Recreate" }
        : { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
    template,
  };
}

/** The name of the claim behind a component's volume. */
export function claimNameOf(spec: Pick<ComponentSpec, "name">): string {
  return `${spec.name}-data`;
}

/**
 * The claim behind a component's volume: ReadWriteMany, because every replica of a service shares
 * one data folder, as the dev stack's replicas share one Docker volume.
 */
export function claimSpec(
  spec: ComponentSpec,
  storageClassName: string,
): k8s.types.input.core.v1.PersistentVolumeClaimSpec {
  if (spec.volume === undefined) throw new Error(`component "${spec.name}" has no volume`);
  return {
    accessModes: ["ReadWriteMany"],
    storageClassName,
    resources: { requests: { storage: `${spec.volume.sizeGi}Gi` } },
  };
}

/** Arguments of `KubernetesWorkload`. */
export interface KubernetesWorkloadArgs {
  readonly spec: ComponentSpec;
  readonly namespace: string;
  /** The image: a pushed digest, or a pinned upstream reference. */
  readonly image: pulumi.Input<string>;
  /** Secret env values, already resolved from config. */
  readonly secretEnv?: Readonly<Record<string, pulumi.Input<string>>>;
  /** Plain env values known only at deploy time (the load balancer's host name). */
  readonly deployEnv?: Readonly<Record<string, pulumi.Input<string>>>;
  /** Storage class of shared (ReadWriteMany) volumes; needed when the component has a volume. */
  readonly sharedStorageClass?: string;
  /** Extra mounts, such as HAProxy's config. */
  readonly mounts?: readonly PodMount[];
  readonly podAnnotations?: Readonly<Record<string, pulumi.Input<string>>>;
  /** `PodOptions.stopDelaySeconds`: for pods a load balancer sends traffic to directly. */
  readonly stopDelaySeconds?: number;
}

/** All replicas of one component, with their Service, scaling and disruption budget. */
export class KubernetesWorkload extends pulumi.ComponentResource {
  readonly deployment: k8s.apps.v1.Deployment;
  readonly service: k8s.core.v1.Service;
  readonly scaling: WorkloadScaling;

  constructor(name: string, args: KubernetesWorkloadArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mcp-platform:eks:KubernetesWorkload", name, {}, opts);
    const { spec, namespace } = args;
    const metadata = (objectName: string) => ({ name: objectName, namespace, labels: labelsOf(spec) });
    // Fixed names cannot exist twice, so a replacement must delete first.
    const child = { parent: this, deleteBeforeReplace: true };
    const dependsOn: pulumi.Resource[] = [];

    const secretEnv = args.secretEnv ?? {};
    const secretKeys = Object.keys(secretEnv);
    if (secretKeys.length > 0) {
      dependsOn.push(
        new k8s.core.v1.Secret(
          `${name}-env`,
          { metadata: metadata(secretNameOf(spec)), type: "Opaque", stringData: { ...secretEnv } },
          child,
        ),
      );
    }

    const mounts: PodMount[] = [...(args.mounts ?? [])];
    if (spec.volume !== undefined) {
      if (args.sharedStorageClass === undefined) {
        throw new Error(`component "${spec.name}" has a volume but no shared storage class was given`);
      }
      const claim = new k8s.core.v1.PersistentVolumeClaim(
        `${name}-data`,
        { metadata: metadata(claimNameOf(spec)), spec: claimSpec(spec, args.sharedStorageClass) },
        child,
      );
      dependsOn.push(claim);
      mounts.push({
        name: "data",
        mountPath: spec.volume.mountPath,
        readOnly: false,
        source: { persistentVolumeClaim: { claimName: claimNameOf(spec) } },
      });
    }

    const template = podTemplate(spec, {
      image: args.image,
      secretKeys,
      ...(args.deployEnv ? { deployEnv: args.deployEnv } : {}),
      mounts,
      ...(args.podAnnotations ? { annotations: args.podAnnotations } : {}),
      ...(args.stopDelaySeconds === undefined ? {} : { stopDelaySeconds: args.stopDelaySeconds }),
    });
    this.deployment = new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      { metadata: metadata(spec.name), spec: deploymentSpec(spec, template) },
      { ...child, dependsOn },
    );
    this.service = new k8s.core.v1.Service(
      `${name}-service`,
      { metadata: metadata(spec.name), spec: serviceSpec(spec) },
      child,
    );
    this.scaling = new WorkloadScaling(`${name}-scaling`, { spec, namespace }, { parent: this });
    this.registerOutputs({ deployment: this.deployment.metadata.name, service: this.service.metadata.name });
  }
}
