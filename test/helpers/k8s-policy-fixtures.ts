/** Kubernetes objects like the EKS target's, and broken variants of them, for the policy tests. */
import type { Finding, Subject } from "./policy-harness";

const K = {
  ns: "kubernetes:core/v1:Namespace",
  np: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
  svc: "kubernetes:core/v1:Service",
  deploy: "kubernetes:apps/v1:Deployment",
  hpa: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
};

const container = {
  name: "mcp-server",
  image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mcp-server@sha256:" + "a".repeat(64),
  ports: [{ name: "http", containerPort: 11101 }],
  resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
  livenessProbe: { httpGet: { path: "/health/live", port: 11101 } },
  readinessProbe: { httpGet: { path: "/health/ready", port: 11101 } },
  securityContext: {
    runAsNonRoot: true,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
    allowPrivilegeEscalation: false,
  },
};

/** A small, well-formed prod-like stack: what the EKS target declares for one service. */
export const base: Subject[] = [
  { type: K.ns, name: "ns-internal", props: { metadata: { name: "mcp-internal" } } },
  {
    type: K.np,
    name: "default-deny",
    props: {
      metadata: { name: "default-deny", namespace: "mcp-internal" },
      spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
    },
  },
  {
    type: K.deploy,
    name: "mcp-files",
    props: {
      metadata: { name: "mcp-files", namespace: "mcp-internal" },
      spec: {
        selector: { matchLabels: { app: "mcp-files" } },
        template: { spec: { containers: [container] } },
      },
    },
  },
  {
    type: K.hpa,
    name: "mcp-files-hpa",
    props: { metadata: { name: "mcp-files" }, spec: { minReplicas: 3, maxReplicas: 10 } },
  },
  {
    type: K.svc,
    name: "haproxy-svc",
    props: {
      metadata: { name: "haproxy-public", namespace: "mcp-platform" },
      spec: {
        type: "LoadBalancer",
        selector: { "app.kubernetes.io/name": "haproxy" },
        ports: [{ port: 3000 }],
      },
    },
  },
  {
    type: K.svc,
    name: "router-svc",
    props: { metadata: { name: "router" }, spec: { type: "ClusterIP", ports: [{ port: 3000 }] } },
  },
];

/** The base objects with one of them changed. */
export function variant(name: string, change: (props: Record<string, any>) => void): Subject[] {
  const copy = structuredClone(base);
  const target = copy.find((s) => s.name === name);
  if (!target) throw new Error(`no subject ${name}`);
  change(target.props);
  return copy;
}
/** The first container of a Deployment's pod template. */
export const podContainer = (p: Record<string, any>) => p.spec.template.spec.containers[0];

/** Broken variants: each defect and exactly what the pack reports for it. */
export const K8S_VARIANTS: [string, () => Subject[], Finding[]][] = [
  [
    "mcp-internal without a default-deny NetworkPolicy",
    () => variant("default-deny", (p) => (p.spec.ingress = [{ from: [{ podSelector: {} }] }])),
    [
      {
        policy: "mcp-internal-default-deny",
        resource: "(stack)",
        message:
          "ns-internal (mcp-internal): namespace mcp-internal has no default-deny NetworkPolicy (empty podSelector, Ingress and Egress, no rules)",
      },
    ],
  ],
  [
    "a second LoadBalancer",
    () => variant("router-svc", (p) => (p.spec.type = "LoadBalancer")),
    [
      {
        policy: "no-public-services",
        resource: "router-svc",
        message:
          "router-svc (router): Service type LoadBalancer is reserved for haproxy's pods; use ClusterIP",
      },
    ],
  ],
  [
    "a LoadBalancer port outside the plan",
    () => variant("haproxy-svc", (p) => p.spec.ports.push({ port: 8443 })),
    [
      {
        policy: "published-ports-in-plan",
        resource: "haproxy-svc",
        message: "haproxy-svc (haproxy-public): exposes port 8443, outside 11090–11199 or 3000/50051".replace(
          "11090–11199",
          "11090–11099, 11100–11199",
        ),
      },
    ],
  ],
  [
    "a Deployment without probes",
    () =>
      variant("mcp-files", (p) => {
        delete podContainer(p).livenessProbe;
        delete podContainer(p).readinessProbe;
      }),
    [
      {
        policy: "probes-set",
        resource: "mcp-files",
        message: "mcp-files: container mcp-server has no livenessProbe",
      },
      {
        policy: "probes-set",
        resource: "mcp-files",
        message: "mcp-files: container mcp-server has no readinessProbe",
      },
    ],
  ],
  [
    "a pod on the host network with a hostPort",
    () =>
      variant("mcp-files", (p) => {
        p.spec.template.spec.hostNetwork = true;
        podContainer(p).ports[0].hostPort = 11101;
      }),
    [
      { policy: "no-host-networking", resource: "mcp-files", message: "mcp-files: pod uses hostNetwork" },
      {
        policy: "no-host-networking",
        resource: "mcp-files",
        message: "mcp-files: container mcp-server uses hostPort 11101",
      },
    ],
  ],
  [
    "a :latest image",
    () => variant("mcp-files", (p) => (podContainer(p).image = "mcp-server:latest")),
    [
      {
        policy: "pinned-images",
        resource: "mcp-files",
        message:
          "mcp-files: container mcp-server mcp-server:latest is not pinned to a digest or a non-latest tag",
      },
    ],
  ],
  [
    "a container without a security context",
    () => variant("mcp-files", (p) => delete podContainer(p).securityContext),
    [
      {
        policy: "hardened-containers",
        resource: "mcp-files",
        message: "mcp-files: container mcp-server does not set runAsNonRoot",
      },
      {
        policy: "hardened-containers",
        resource: "mcp-files",
        message: "mcp-files: container mcp-server has a writable root filesystem",
      },
      {
        policy: "hardened-containers",
        resource: "mcp-files",
        message: "mcp-files: container mcp-server does not drop ALL capabilities",
      },
    ],
  ],
  [
    "a container without limits",
    () => variant("mcp-files", (p) => delete podContainer(p).resources.limits),
    [
      {
        policy: "resources-set",
        resource: "mcp-files",
        message: "mcp-files: container mcp-server lacks resources limits.cpu, limits.memory",
      },
    ],
  ],
  [
    "an HPA with min 1 and max below min",
    () => variant("mcp-files-hpa", (p) => (p.spec = { minReplicas: 1, maxReplicas: 0 })),
    [
      {
        policy: "hpa-bounds",
        resource: "mcp-files-hpa",
        message: "mcp-files-hpa (mcp-files): minReplicas 1 is below 2",
      },
      {
        policy: "hpa-bounds",
        resource: "mcp-files-hpa",
        message: "mcp-files-hpa (mcp-files): maxReplicas 0 is below minReplicas 1",
      },
    ],
  ],
  [
    "an MCP service listening outside the MCP range",
    () => variant("mcp-files", (p) => (podContainer(p).ports[0].containerPort = 8080)),
    [
      {
        policy: "mcp-service-ports-in-range",
        resource: "mcp-files",
        message: "mcp-files: MCP service listens on 8080, outside 11100–11199",
      },
    ],
  ],
];
