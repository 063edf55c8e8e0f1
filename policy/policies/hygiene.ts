/**
 * Workload hygiene: pinned images, hardened containers, resources, probes, sane HPA bounds and
 * restart policies. Applies to what the program declares itself (Helm-rendered objects are the
 * charts' business and not visible to resource policies).
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import type { RuleOptions } from "./define";
import { resourcePolicy } from "./define";
import type { PolicySubject } from "./resources";
import { containersOf, displayName, WORKLOAD_TYPES, podSpecOf, TYPE } from "./resources";

/** An image reference pinned by digest (or a local image ID), or by a tag other than `latest`. */
export function isPinnedImage(ref: string): boolean {
  if (/^sha256:[a-f0-9]{64}$/.test(ref) || /@sha256:[a-f0-9]{64}$/.test(ref)) return true;
  const lastSegment = ref.slice(ref.lastIndexOf("/") + 1);
  const colon = lastSegment.indexOf(":");
  return colon > 0 && lastSegment.slice(colon + 1) !== "latest" && lastSegment.slice(colon + 1) !== "";
}

function imagesOf(r: PolicySubject): { where: string; image: unknown }[] {
  if (r.type === TYPE.dockerContainer) return [{ where: "image", image: r.props.image }];
  if (r.type === TYPE.dockerRemoteImage) return [{ where: "name", image: r.props.name }];
  const pod = podSpecOf(r);
  return pod ? containersOf(pod).map((c) => ({ where: `container ${c.name}`, image: c.image })) : [];
}

/** No image without a pinned tag or digest, and no `latest`. */
export function pinnedImages(opts?: RuleOptions): ResourceValidationPolicy {
  return resourcePolicy(
    {
      name: "pinned-images",
      description: "Images are pinned by digest or by a tag other than latest.",
      types: [...WORKLOAD_TYPES, TYPE.dockerContainer, TYPE.dockerRemoteImage],
      check: (r) =>
        imagesOf(r)
          // An unknown value (a digest computed during preview) is judged at update time.
          .filter((i) => typeof i.image === "string" && !isPinnedImage(i.image))
          .map(
            (i) =>
              `${displayName(r)}: ${i.where} ${String(i.image)} is not pinned to a digest or a non-latest tag`,
          ),
    },
    opts,
  );
}

/**
 * Containers run non-root, with a read-only root filesystem, all capabilities dropped and (in
 * Kubernetes) `allowPrivilegeEscalation: false`.
 */
export function hardenedContainers(opts?: RuleOptions): ResourceValidationPolicy {
  return resourcePolicy(
    {
      name: "hardened-containers",
      description:
        "Containers run non-root, read-only root filesystem and no privilege escalation (Kubernetes), all capabilities dropped.",
      types: [...WORKLOAD_TYPES, TYPE.dockerContainer],
      check: (r) => {
        if (r.type === TYPE.dockerContainer) {
          const found: string[] = [];
          if (!(r.props.capabilities?.drops ?? []).includes("ALL"))
            found.push(`${displayName(r)}: does not drop ALL capabilities`);
          if (r.props.privileged === true) found.push(`${displayName(r)}: runs privileged`);
          if (r.props.user === "root" || r.props.user === "0" || r.props.user === "0:0")
            found.push(`${displayName(r)}: runs as root`);
          return found;
        }
        const pod = podSpecOf(r);
        if (pod === undefined) return [];
        return containersOf(pod).flatMap((c) => {
          const sc = c.securityContext ?? {};
          const nonRoot =
            sc.runAsNonRoot === true ||
            (sc.runAsNonRoot === undefined && pod.securityContext?.runAsNonRoot === true);
          const found: string[] = [];
          if (!nonRoot) found.push(`${displayName(r)}: container ${c.name} does not set runAsNonRoot`);
          if (sc.readOnlyRootFilesystem !== true)
            found.push(`${displayName(r)}: container ${c.name} has a writable root filesystem`);
          if (!(sc.capabilities?.drop ?? []).includes("ALL"))
            found.push(`${displayName(r)}: container ${c.name} does not drop ALL capabilities`);
          // Kubernetes treats an unset allowPrivilegeEscalation as true: only an explicit false holds.
          if (sc.privileged === true || sc.allowPrivilegeEscalation !== false) {
            found.push(`${displayName(r)}: container ${c.name} may escalate privileges`);
          }
          return found;
        });
      },
    },
    opts,
  );
}

/** Requests and limits are set for CPU and memory. */
export function resourcesSet(opts?: RuleOptions): ResourceValidationPolicy {
  return resourcePolicy(
    {
      name: "resources-set",
      description: "Every Kubernetes container sets CPU and memory requests and limits.",
      types: WORKLOAD_TYPES,
      check: (r) => {
        const pod = podSpecOf(r);
        if (pod === undefined) return [];
        return containersOf(pod).flatMap((c) => {
          const missing = (["requests", "limits"] as const).flatMap((kind) =>
            (["cpu", "memory"] as const)
              .filter((k) => c.resources?.[kind]?.[k] === undefined)
              .map((k) => `${kind}.${k}`),
          );
          return missing.length > 0
            ? [`${displayName(r)}: container ${c.name} lacks resources ${missing.join(", ")}`]
            : [];
        });
      },
    },
    opts,
  );
}

/** Liveness and readiness probes are set; Docker containers have a health check. */
export function probesSet(opts?: RuleOptions): ResourceValidationPolicy {
  return resourcePolicy(
    {
      name: "probes-set",
      description:
        "Kubernetes containers have liveness and readiness probes; Docker containers a health check.",
      types: [...WORKLOAD_TYPES, TYPE.dockerContainer],
      check: (r) => {
        if (r.type === TYPE.dockerContainer) {
          const tests: unknown[] = r.props.healthcheck?.tests ?? [];
          return tests.length === 0 || tests[0] === "NONE" ? [`${displayName(r)}: has no health check`] : [];
        }
        const pod = podSpecOf(r);
        if (pod === undefined) return [];
        return (pod.containers ?? []).flatMap((c: Record<string, any>) =>
          (["livenessProbe", "readinessProbe"] as const)
            .filter((probe) => c[probe] === undefined)
            .map((probe) => `${displayName(r)}: container ${c.name} has no ${probe}`),
        );
      },
    },
    opts,
  );
}

/** HPA min ≥ 2 and max ≥ min. */
export function hpaBounds(minReplicas = 2, opts?: RuleOptions): ResourceValidationPolicy {
  return resourcePolicy<{ minReplicas?: number }>(
    {
      name: "hpa-bounds",
      description: `HorizontalPodAutoscalers keep at least ${minReplicas} replicas and a max no lower than the min.`,
      types: [TYPE.k8sHpa],
      configSchema: { properties: { minReplicas: { type: "integer", minimum: 1, default: minReplicas } } },
      check: (r, config) => {
        const floor = config.minReplicas ?? minReplicas;
        const min = r.props.spec?.minReplicas ?? 1;
        const max = r.props.spec?.maxReplicas;
        const found: string[] = [];
        if (min < floor) found.push(`${displayName(r)}: minReplicas ${min} is below ${floor}`);
        if (typeof max === "number" && max < min)
          found.push(`${displayName(r)}: maxReplicas ${max} is below minReplicas ${min}`);
        return found;
      },
    },
    opts,
  );
}

/** Docker containers restart on failure. */
export function restartPolicySet(opts?: RuleOptions): ResourceValidationPolicy {
  const ok = ["always", "unless-stopped", "on-failure"];
  return resourcePolicy(
    {
      name: "restart-policy-set",
      description: `Docker containers have a restart policy (${ok.join(", ")}).`,
      types: [TYPE.dockerContainer],
      check: (r) =>
        ok.includes(r.props.restart)
          ? []
          : [
              `${displayName(r)}: restart policy ${JSON.stringify(r.props.restart ?? "no")} is not one of ${ok.join(", ")}`,
            ],
    },
    opts,
  );
}
