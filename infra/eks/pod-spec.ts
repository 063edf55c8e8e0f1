/**
 * Pure builders of the prod stack's pods: labels, ports, probes, requests and limits, security
 * contexts, zone spread and environment, all derived from one topology component. The workload
 * components only wire these to Kubernetes objects; the tests call them directly.
 *
 * Every pod runs non-root with a read-only root filesystem and all capabilities dropped
 * (DESIGN "Prod stack"), so `mcp-internal` can enforce the `restricted` Pod Security Standard.
 */
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { ComponentSpec, Role } from "../topology";
import { healthPortOf } from "../topology";

type PodSpec = k8s.types.input.core.v1.PodSpec;
type Container = k8s.types.input.core.v1.Container;
type EnvVar = k8s.types.input.core.v1.EnvVar;
type Probe = k8s.types.input.core.v1.Probe;
type Volume = k8s.types.input.core.v1.Volume;

/** The `app.kubernetes.io/part-of` value of everything the platform deploys. */
export const PART_OF = "mcp-platform";

/**
 * The numeric user each image runs as. `runAsNonRoot` can only verify a numeric user, and the
 * images name theirs: `node` (1000) in our Node images, `haproxy` (99) in the official image.
 */
export const IMAGE_USER = { build: 1000, haproxy: 99 } as const;

/** Seconds a pod gets to deregister from Consul and drain after SIGTERM, as in dev (`stopTimeout`). */
export const STOP_GRACE_SECONDS = 30;

/** Size of the writable `/tmp` every pod gets in place of a writable root filesystem. */
export const TMP_SIZE = "256Mi";

/** The labels a component's Deployment, Service, PDB, HPA and NetworkPolicies select on. */
export function selectorOf(spec: Pick<ComponentSpec, "name">): Record<string, string> {
  return { "app.kubernetes.io/name": spec.name };
}

/** The labels that select every pod of one role, such as all MCP services. */
export function roleSelector(role: Role): Record<string, string> {
  return { "app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/component": role };
}

/** Every label a component's objects carry: the selector plus part-of, role and manager. */
export function labelsOf(spec: Pick<ComponentSpec, "name" | "role">): Record<string, string> {
  return { ...selectorOf(spec), ...roleSelector(spec.role), "app.kubernetes.io/managed-by": "pulumi" };
}

/** The numeric user of a component's image; throws for an image whose user is not known. */
export function runAsUserOf(spec: ComponentSpec): number {
  if (spec.image.kind === "build") return IMAGE_USER.build;
  if (spec.name === "haproxy") return IMAGE_USER.haproxy;
  throw new Error(`component "${spec.name}" runs ${spec.image.ref}, whose numeric user is not known`);
}

/** Pod-level hardening: a numeric non-root user and group, and the runtime's seccomp profile. */
export function podSecurityContext(spec: ComponentSpec): k8s.types.input.core.v1.PodSecurityContext {
  const uid = runAsUserOf(spec);
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    fsGroup: uid,
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** Container-level hardening: read-only root, no privilege escalation, every capability dropped. */
export function containerSecurityContext(): k8s.types.input.core.v1.SecurityContext {
  return {
    runAsNonRoot: true,
    privileged: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** The ports a component's container listens on: its published ports, or else its own port. */
export function listenPorts(spec: ComponentSpec): number[] {
  const ports = spec.hostPorts.length > 0 ? spec.hostPorts.map((p) => p.container) : [spec.port];
  return [...new Set(ports)];
}

/**
 * A port's name (an IANA service name, at most 15 characters): `http` for the component's port,
 * `health` for a separate health port, `direct-<port>` for HAProxy's per-service frontends.
 */
export function portName(spec: ComponentSpec, port: number): string {
  if (port === spec.port) return "http";
  if (port === spec.healthPort) return "health";
  return `direct-${port}`;
}

/** The container's ports, named. */
export function containerPorts(spec: ComponentSpec): k8s.types.input.core.v1.ContainerPort[] {
  return listenPorts(spec).map((p) => ({ name: portName(spec, p), containerPort: p, protocol: "TCP" }));
}

/**
 * Startup, liveness and readiness probes on the component's health routes. Startup gives a slow
 * first boot (a bridged stdio server installing its state) up to 2 minutes before liveness counts.
 */
export function probes(spec: ComponentSpec): {
  startupProbe: Probe;
  livenessProbe: Probe;
  readinessProbe: Probe;
} {
  if (spec.livePath === undefined || spec.readyPath === undefined) {
    throw new Error(`component "${spec.name}" has no health routes to probe`);
  }
  const port = healthPortOf(spec);
  const get = (path: string) => ({ path, port, scheme: "HTTP" });
  return {
    startupProbe: { httpGet: get(spec.livePath), periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 24 },
    livenessProbe: { httpGet: get(spec.livePath), periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 },
    readinessProbe: {
      httpGet: get(spec.readyPath),
      periodSeconds: 5,
      timeoutSeconds: 3,
      failureThreshold: 2,
      successThreshold: 1,
    },
  };
}

/** Requests and limits; throws when the topology has none (a stack without EKS settings). */
export function resourcesOf(spec: ComponentSpec): k8s.types.input.core.v1.ResourceRequirements {
  if (spec.resources === undefined) {
    throw new Error(`component "${spec.name}" has no requests and limits; they come from mcp-platform:eks`);
  }
  return {
    requests: { ...spec.resources.requests },
    limits: { ...spec.resources.limits },
  };
}

/**
 * Spread replicas evenly over availability zones, then over nodes. Soft (`ScheduleAnyway`), so a
 * zone that is full or down delays balance instead of blocking a scale-up.
 */
export function spreadOf(spec: ComponentSpec): k8s.types.input.core.v1.TopologySpreadConstraint[] {
  return ["topology.kubernetes.io/zone", "kubernetes.io/hostname"].map((topologyKey) => ({
    maxSkew: 1,
    topologyKey,
    whenUnsatisfiable: "ScheduleAnyway",
    labelSelector: { matchLabels: selectorOf(spec) },
  }));
}

/** The Secret holding a component's secret env vars, one key per variable. */
export function secretNameOf(spec: Pick<ComponentSpec, "name">): string {
  return `${spec.name}-env`;
}

/**
 * The container's environment: the topology's plain env, values only known at deploy time (such
 * as the load balancer's name), the address to advertise in Consul (the pod IP), and each secret
 * env var by reference to the component's Secret.
 */
export function envOf(
  spec: ComponentSpec,
  secretKeys: readonly string[] = [],
  deployEnv: Readonly<Record<string, pulumi.Input<string>>> = {},
): EnvVar[] {
  return [
    // A variable set at deploy time replaces the topology's (a name may appear once).
    ...Object.entries(spec.env)
      .filter(([name]) => !(name in deployEnv))
      .map(([name, value]) => ({ name, value })),
    ...Object.entries(deployEnv).map(([name, value]) => ({ name, value })),
    ...(spec.consulName === undefined
      ? []
      : [{ name: "SERVICE_ADDRESS", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } }]),
    ...secretKeys.map((name) => ({
      name,
      valueFrom: { secretKeyRef: { name: secretNameOf(spec), key: name } },
    })),
  ];
}

/** A volume mounted into the container, besides `/tmp`. */
export interface PodMount {
  readonly name: string;
  readonly mountPath: string;
  readonly readOnly: boolean;
  /** The volume source (`configMap`, `persistentVolumeClaim`, ...). */
  readonly source: Omit<Volume, "name">;
}

/** What a pod needs besides its topology component. */
export interface PodOptions {
  /** The image by digest (built images) or by its pinned reference (upstream images). */
  readonly image: pulumi.Input<string>;
  /** Names of the secret env vars held in the component's Secret. */
  readonly secretKeys?: readonly string[];
  /** Env values known only at deploy time, added after the topology's. */
  readonly deployEnv?: Readonly<Record<string, pulumi.Input<string>>>;
  readonly mounts?: readonly PodMount[];
  /** Pod annotations, such as a config checksum that rolls the pods when the config changes. */
  readonly annotations?: Readonly<Record<string, pulumi.Input<string>>>;
  /**
   * Seconds a stopping pod keeps serving before it is signalled (a `preStop` sleep), added to
   * its grace period: a load balancer needs that long to stop sending it new connections.
   */
  readonly stopDelaySeconds?: number;
}

/**
 * The conventional `prometheus.io/*` pod annotations, which Prometheus's Kubernetes discovery
 * (and most agents) read: where a component serves its metrics. None for components without.
 */
export function scrapeAnnotations(spec: ComponentSpec): Record<string, string> {
  if (spec.metricsPath === undefined) return {};
  return {
    "prometheus.io/scrape": "true",
    "prometheus.io/port": String(healthPortOf(spec)),
    "prometheus.io/path": spec.metricsPath,
  };
}

/** The whole pod template of a component. */
export function podTemplate(
  spec: ComponentSpec,
  options: PodOptions,
): k8s.types.input.core.v1.PodTemplateSpec {
  const mounts = [
    { name: "tmp", mountPath: "/tmp", readOnly: false, source: { emptyDir: { sizeLimit: TMP_SIZE } } },
    ...(options.mounts ?? []),
  ];
  const container: Container = {
    name: spec.name,
    image: options.image,
    imagePullPolicy: "IfNotPresent",
    ports: containerPorts(spec),
    env: envOf(spec, options.secretKeys, options.deployEnv),
    resources: resourcesOf(spec),
    ...probes(spec),
    securityContext: containerSecurityContext(),
    volumeMounts: mounts.map((m) => ({ name: m.name, mountPath: m.mountPath, readOnly: m.readOnly })),
    ...(options.stopDelaySeconds === undefined
      ? {}
      : { lifecycle: { preStop: { exec: { command: ["sleep", String(options.stopDelaySeconds)] } } } }),
  };
  const pod: PodSpec = {
    containers: [container],
    securityContext: podSecurityContext(spec),
    // No pod talks to the Kubernetes API, and Service env vars would leak into `ROUTER_*`.
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    // An MCP service's Node process starts stdio servers, whose own children are orphaned when
    // one dies; Node does not reap processes it did not start. With a shared process namespace
    // the pod's pause process is PID 1 and reaps them (as Docker's init does in dev).
    ...(spec.role === "mcp-service" ? { shareProcessNamespace: true } : {}),
    // The grace period runs from the start of `preStop`, so a stop delay lengthens it.
    terminationGracePeriodSeconds: STOP_GRACE_SECONDS + (options.stopDelaySeconds ?? 0),
    topologySpreadConstraints: spreadOf(spec),
    volumes: mounts.map((m) => ({ name: m.name, ...m.source })),
  };
  const annotations = { ...scrapeAnnotations(spec), ...options.annotations };
  return {
    metadata: {
      labels: labelsOf(spec),
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    spec: pod,
  };
}
