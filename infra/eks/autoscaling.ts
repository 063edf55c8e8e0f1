/**
 * Scaling and disruption for one workload: an `autoscaling/v2` HorizontalPodAutoscaler on CPU and
 * memory utilisation (router and MCP services), and a PodDisruptionBudget (every workload).
 *
 * Under an HPA the Deployment sets no `replicas` (DESIGN "Known pitfalls"): the HPA owns the
 * count, and a `replicas` in the manifest would reset it on every `pulumi up`.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { ComponentSpec } from "../topology";
import { labelsOf, selectorOf } from "./pod-spec";

type HpaSpec = k8s.types.input.autoscaling.v2.HorizontalPodAutoscalerSpec;
type PdbSpec = k8s.types.input.policy.v1.PodDisruptionBudgetSpec;

/**
 * The HPA spec of a component, or undefined when its replica count is fixed. Utilisation is a
 * percentage of the container's requests, which `resources` always sets.
 */
export function hpaSpec(spec: ComponentSpec): HpaSpec | undefined {
  const a = spec.autoscaling;
  if (a === undefined) return undefined;
  const target = (name: "cpu" | "memory", averageUtilization: number) => ({
    type: "Resource",
    resource: { name, target: { type: "Utilization", averageUtilization } },
  });
  return {
    scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: spec.name },
    minReplicas: a.minReplicas,
    maxReplicas: a.maxReplicas,
    metrics: [target("cpu", a.cpuPercent), target("memory", a.memoryPercent)],
    behavior: {
      // Scale up at once; scale down slowly, so long MCP streams are not cut on a short lull.
      scaleUp: { stabilizationWindowSeconds: 0 },
      scaleDown: {
        stabilizationWindowSeconds: 300,
        policies: [{ type: "Pods", value: 1, periodSeconds: 60 }],
      },
    },
  };
}

/**
 * The PDB spec: one pod at a time may be evicted. Under an HPA (at least `minReplicas` pods) that
 * keeps the rest serving through a node drain; a single-replica workload still lets drains proceed.
 */
export function pdbSpec(spec: ComponentSpec): PdbSpec {
  return { maxUnavailable: 1, selector: { matchLabels: selectorOf(spec) } };
}

/** Arguments of `WorkloadScaling`. */
export interface WorkloadScalingArgs {
  readonly spec: ComponentSpec;
  readonly namespace: string;
}

/** The HPA (when the component autoscales) and the PDB of one workload. */
export class WorkloadScaling extends pulumi.ComponentResource {
  readonly hpa?: k8s.autoscaling.v2.HorizontalPodAutoscaler;
  readonly pdb: k8s.policy.v1.PodDisruptionBudget;

  constructor(name: string, args: WorkloadScalingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mcp-platform:eks:WorkloadScaling", name, {}, opts);
    const { spec, namespace } = args;
    const metadata = { name: spec.name, namespace, labels: labelsOf(spec) };
    // Fixed names cannot exist twice, so a replacement must delete first.
    const child = { parent: this, deleteBeforeReplace: true };
    const hpa = hpaSpec(spec);
    if (hpa !== undefined) {
      this.hpa = new k8s.autoscaling.v2.HorizontalPodAutoscaler(
        `${name}-hpa`,
        { metadata, spec: hpa },
        child,
      );
    }
    this.pdb = new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, { metadata, spec: pdbSpec(spec) }, child);
    this.registerOutputs({ pdb: this.pdb.metadata.name });
  }
}
