/**
 * Type tokens and accessors the policies share. Policies match on type tokens, so the pack
 * needs no provider SDK at run time, and read props defensively: a preview may hold unknowns.
 */

/** Type tokens of the resources the rules look at. */
export const TYPE = {
  dockerNetwork: "docker:index/network:Network",
  dockerContainer: "docker:index/container:Container",
  dockerRemoteImage: "docker:index/remoteImage:RemoteImage",
  k8sNamespace: "kubernetes:core/v1:Namespace",
  k8sService: "kubernetes:core/v1:Service",
  k8sPod: "kubernetes:core/v1:Pod",
  k8sNetworkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
  k8sIngress: "kubernetes:networking.k8s.io/v1:Ingress",
  helmRelease: "kubernetes:helm.sh/v3:Release",
  k8sHpa: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
  k8sDeployment: "kubernetes:apps/v1:Deployment",
  k8sStatefulSet: "kubernetes:apps/v1:StatefulSet",
  k8sDaemonSet: "kubernetes:apps/v1:DaemonSet",
  k8sReplicaSet: "kubernetes:apps/v1:ReplicaSet",
  k8sJob: "kubernetes:batch/v1:Job",
  k8sCronJob: "kubernetes:batch/v1:CronJob",
} as const;

/** Every Kubernetes type that carries a pod spec. */
export const WORKLOAD_TYPES: readonly string[] = [
  TYPE.k8sDeployment,
  TYPE.k8sStatefulSet,
  TYPE.k8sDaemonSet,
  TYPE.k8sReplicaSet,
  TYPE.k8sJob,
  TYPE.k8sCronJob,
  TYPE.k8sPod,
];

/** Workload types whose pod template sits at `spec.template.spec`. */
const TEMPLATED = new Set<string>([
  TYPE.k8sDeployment,
  TYPE.k8sStatefulSet,
  TYPE.k8sDaemonSet,
  TYPE.k8sReplicaSet,
  TYPE.k8sJob,
]);

/** A resource as a policy sees it: its type token, logical name and props. */
export interface PolicySubject {
  readonly type: string;
  readonly name: string;
  readonly props: Record<string, any>;
}

/**
 * What a Kubernetes workload's pods are made from, `{ metadata, spec }`: its pod template, or a
 * Pod itself; undefined for other types.
 */
function podTemplateOf(r: PolicySubject): Record<string, any> | undefined {
  if (TEMPLATED.has(r.type)) return r.props.spec?.template;
  if (r.type === TYPE.k8sCronJob) return r.props.spec?.jobTemplate?.spec?.template;
  if (r.type === TYPE.k8sPod) return r.props;
  return undefined;
}

/** The pod spec of a Kubernetes workload, or undefined for other types. */
export function podSpecOf(r: PolicySubject): Record<string, any> | undefined {
  return podTemplateOf(r)?.spec;
}

/** The labels of a Kubernetes workload's pods (its pod template's, or a Pod's own). */
export function podLabelsOf(r: PolicySubject): Record<string, string> {
  return podTemplateOf(r)?.metadata?.labels ?? {};
}

/** The label the EKS target gives every pod of one role (`roleSelector` in infra/eks/pod-spec.ts). */
export const ROLE_LABEL = "app.kubernetes.io/component";

/** The label naming a component's pods (`selectorOf` in infra/eks/pod-spec.ts). */
export const NAME_LABEL = "app.kubernetes.io/name";

/** Whether `labels` carry every label of `required` (its keys with the same values). */
export function carriesLabels(labels: Record<string, unknown>, required: Record<string, unknown>): boolean {
  return Object.entries(required).every(([key, value]) => labels[key] === value);
}

/** Every container (and init container) of a pod spec. */
export function containersOf(pod: Record<string, any>): Record<string, any>[] {
  return [...(pod.initContainers ?? []), ...(pod.containers ?? [])];
}

/** The Docker network names a container joins. */
export function dockerNetworksOf(props: Record<string, any>): string[] {
  return (props.networksAdvanced ?? []).map((n: { name?: unknown }) => String(n.name));
}

/** A Docker container's env as a map (`["K=V"]` → `{K: "V"}`). */
export function dockerEnvOf(props: Record<string, any>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of Array.isArray(props.envs) ? props.envs : []) {
    const text = String(pair);
    const eq = text.indexOf("=");
    if (eq > 0) env[text.slice(0, eq)] = text.slice(eq + 1);
  }
  return env;
}

/** A Docker container's labels as a map. */
export function dockerLabelsOf(props: Record<string, any>): Record<string, string> {
  return Object.fromEntries(
    (props.labels ?? []).map((l: { label: string; value: string }) => [l.label, l.value]),
  );
}

/** The platform role of a Docker container: its label, else what its name says. */
export function dockerRoleOf(
  props: Record<string, any>,
): "gateway" | "mcp-service" | "infrastructure" | undefined {
  const label = dockerLabelsOf(props)["mcp-platform.role"];
  if (label === "gateway" || label === "mcp-service" || label === "infrastructure") return label;
  const name = String(props.name ?? "");
  if (/^router(-\d+)?$/.test(name)) return "gateway";
  if (/^mcp-[a-z0-9-]+$/.test(name)) return "mcp-service";
  return undefined;
}

/** A display name for messages: the container or object name when known, else the logical name. */
export function displayName(r: PolicySubject): string {
  const named = r.props.name ?? r.props.metadata?.name;
  return typeof named === "string" && named !== r.name ? `${r.name} (${named})` : r.name;
}
