/** Kubernetes objects like the EKS target's, and broken variants of them, for the policy tests. */
import type { Finding, Subject } from "./policy-harness";

const K = {
  ns: "kubernetes:core/v1:Namespace",
  np: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
  svc: "kubernetes:core/v1:Service",
  deploy: "kubernetes:apps/v1:Deployment",
  sts: "kubernetes:apps/v1:StatefulSet",
  hpa: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
  ingress: "kubernetes:networking.k8s.io/v1:Ingress",
  helm: "kubernetes:helm.sh/v3:Release",
};

/** The labels the EKS target gives an MCP service's objects and pods. */
const mcpLabels = {
  "app.kubernetes.io/name": "mcp-files",
  "app.kubernetes.io/component": "mcp-service",
  "app.kubernetes.io/part-of": "mcp-platform",
};

const container = {
  name: "mcp-server",
  image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mcp-server@sha256:" + "a".repeat(64),
  ports: [{ name: "http", containerPort: 11101 }],
  env: [{ name: "PORT", value: "11101" }],
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
    type: K.np,
    name: "allow-egress",
    props: {
      metadata: { name: "allow-egress", namespace: "mcp-internal" },
      spec: {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [
          {
            to: [
              {
                namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
                podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
              },
            ],
            ports: [{ protocol: "UDP", port: 53 }],
          },
          {
            to: [
              {
                namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "mcp-platform" } },
                podSelector: { matchLabels: { app: "consul", component: "server" } },
              },
            ],
            ports: [{ protocol: "TCP", port: 8500 }],
          },
          {
            to: [{ podSelector: { matchLabels: { "app.kubernetes.io/component": "mcp-service" } } }],
            ports: [{ protocol: "TCP", port: 11101 }],
          },
        ],
      },
    },
  },
  {
    type: K.np,
    name: "allow-mcp-files-ingress",
    props: {
      metadata: { name: "allow-mcp-files-ingress", namespace: "mcp-internal" },
      spec: {
        podSelector: { matchLabels: { "app.kubernetes.io/name": "mcp-files" } },
        policyTypes: ["Ingress"],
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "mcp-platform" } },
                podSelector: { matchLabels: { "app.kubernetes.io/name": "haproxy" } },
              },
              { podSelector: { matchLabels: { "app.kubernetes.io/name": "router" } } },
            ],
            ports: [{ protocol: "TCP", port: 11101 }],
          },
        ],
      },
    },
  },
  {
    type: K.deploy,
    name: "mcp-files",
    props: {
      metadata: { name: "mcp-files", namespace: "mcp-internal", labels: mcpLabels },
      spec: {
        selector: { matchLabels: { "app.kubernetes.io/name": "mcp-files" } },
        template: { metadata: { labels: mcpLabels }, spec: { containers: [container] } },
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

/** The base objects plus `extra`. */
export function withExtra(...extra: Subject[]): Subject[] {
  return [...structuredClone(base), ...extra];
}

/** The base objects without the one named `name`. */
export function without(name: string, objects: Subject[] = base): Subject[] {
  return structuredClone(objects.filter((s) => s.name !== name));
}

/** An extra NetworkPolicy in mcp-internal with the given spec. */
export function internalPolicy(name: string, spec: Record<string, unknown>): Subject {
  return { type: K.np, name, props: { metadata: { name, namespace: "mcp-internal" }, spec } };
}

/** The base objects with one of them changed. */
export function variant(name: string, change: (props: Record<string, any>) => void): Subject[] {
  const copy = structuredClone(base);
  const target = copy.find((s) => s.name === name);
  if (!target) throw new Error(`no subject ${name}`);
  change(target.props);
  return copy;
}
/** A StatefulSet the EKS target could run an MCP service as, labelled as one, on `port`. */
export function mcpStatefulSet(name: string, port: number): Subject {
  const labels = { ...mcpLabels, "app.kubernetes.io/name": name };
  return {
    type: K.sts,
    name,
    props: {
      metadata: { name, namespace: "mcp-internal", labels },
      spec: {
        selector: { matchLabels: { "app.kubernetes.io/name": name } },
        template: {
          metadata: { labels },
          spec: {
            containers: [
              {
                ...structuredClone(container),
                ports: [{ name: "http", containerPort: 11102 }],
                env: [{ name: "PORT", value: String(port) }],
              },
            ],
          },
        },
      },
    },
  };
}

/** HAProxy's Deployment in mcp-platform, as the EKS target names its ports: the gateway and stats. */
export function haproxyDeployment(): Subject {
  const labels = { "app.kubernetes.io/name": "haproxy", "app.kubernetes.io/part-of": "mcp-platform" };
  return {
    type: K.deploy,
    name: "haproxy",
    props: {
      metadata: { name: "haproxy", namespace: "mcp-platform", labels },
      spec: {
        selector: { matchLabels: { "app.kubernetes.io/name": "haproxy" } },
        template: {
          metadata: { labels },
          spec: {
            containers: [
              {
                ...structuredClone(container),
                name: "haproxy",
                ports: [
                  { name: "http", containerPort: 3000 },
                  { name: "health", containerPort: 11099 },
                ],
                env: [],
                livenessProbe: { httpGet: { path: "/health", port: 11099 } },
                readinessProbe: { httpGet: { path: "/health", port: 11099 } },
              },
            ],
          },
        },
      },
    },
  };
}

/** The base objects plus HAProxy's Deployment, with the public Service's ports set to `ports`. */
export function withPublicPorts(ports: Record<string, unknown>[]): Subject[] {
  const objects = withExtra(haproxyDeployment());
  const service = objects.find((s) => s.name === "haproxy-svc");
  if (!service) throw new Error("no subject haproxy-svc");
  service.props.spec.ports = ports;
  return objects;
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
        resource: "(stack)",
        message:
          "router-svc (router): Service type LoadBalancer is reserved for haproxy's pods in mcp-platform; use ClusterIP",
      },
      {
        policy: "no-public-services",
        resource: "(stack)",
        message:
          "2 LoadBalancer Services (haproxy-svc (haproxy-public), router-svc (router)); only one, for haproxy's pods in mcp-platform, may exist",
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
        message: "haproxy-svc (haproxy-public): exposes port 8443; only 3000 and 11100–11199 may be public",
      },
    ],
  ],
  [
    "the gateway port onto a named target port that is HAProxy's stats port",
    () => withPublicPorts([{ name: "http", port: 3000, targetPort: "health" }]),
    [
      {
        policy: "public-target-ports-in-plan",
        resource: "(stack)",
        message:
          'haproxy-svc (haproxy-public): exposes port 3000 onto target port "health", which is container port 11099; only 3000 and 11100–11199 may be public',
      },
    ],
  ],
  [
    "a public port onto a named target port no selected container has",
    () => variant("haproxy-svc", (p) => (p.spec.ports = [{ port: 3000, targetPort: "http" }])),
    [
      {
        policy: "public-target-ports-in-plan",
        resource: "(stack)",
        message:
          'haproxy-svc (haproxy-public): exposes port 3000 onto target port "http", which no container the Service selects in this stack names, so what it reaches cannot be checked; use a numeric targetPort',
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
      {
        policy: "hardened-containers",
        resource: "mcp-files",
        message: "mcp-files: container mcp-server may escalate privileges",
      },
    ],
  ],
  [
    "a container that leaves allowPrivilegeEscalation unset (Kubernetes then allows it)",
    () => variant("mcp-files", (p) => delete podContainer(p).securityContext.allowPrivilegeEscalation),
    [
      {
        policy: "hardened-containers",
        resource: "mcp-files",
        message: "mcp-files: container mcp-server may escalate privileges",
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
  [
    "an MCP service whose PORT env is outside the MCP range, its containerPort inside",
    () => variant("mcp-files", (p) => (podContainer(p).env = [{ name: "PORT", value: "8080" }])),
    [
      {
        policy: "mcp-service-ports-in-range",
        resource: "mcp-files",
        message: "mcp-files: MCP service listens on 8080, outside 11100–11199",
      },
    ],
  ],
  [
    "an MCP service run as a StatefulSet not named mcp-*, listening outside the range",
    () => withExtra(mcpStatefulSet("search", 11250)),
    [
      {
        policy: "mcp-service-ports-in-range",
        resource: "search",
        message: "search: MCP service listens on 11250, outside 11100–11199",
      },
    ],
  ],
  [
    "two MCP services of different workload types on one port",
    () => withExtra(mcpStatefulSet("search", 11101)),
    [
      {
        policy: "no-port-collisions",
        resource: "(stack)",
        message: "MCP port 11101 is used by more than one service: mcp-files, search",
      },
    ],
  ],
  [
    "an extra NetworkPolicy in mcp-internal admitting every peer both ways",
    () =>
      withExtra(
        internalPolicy("allow-all", {
          podSelector: {},
          policyTypes: ["Ingress", "Egress"],
          ingress: [{}],
          egress: [{ to: [] }],
        }),
      ),
    [
      {
        policy: "mcp-internal-default-deny",
        resource: "(stack)",
        message: "allow-all: ingress[0] has no from peers, so it admits every peer",
      },
      {
        policy: "mcp-internal-default-deny",
        resource: "(stack)",
        message: "allow-all: egress[0] has no to peers, so it admits every peer",
      },
    ],
  ],
  [
    "an ipBlock and empty namespaceSelectors in mcp-internal",
    () =>
      withExtra(
        internalPolicy("allow-wide", {
          podSelector: {},
          policyTypes: ["Ingress", "Egress"],
          ingress: [{ from: [{ ipBlock: { cidr: "0.0.0.0/0" } }, { namespaceSelector: {} }] }],
          egress: [
            {
              to: [{ namespaceSelector: {}, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }],
            },
            { to: [{ ipBlock: { cidr: "10.0.0.0/8" } }] },
          ],
        }),
      ),
    [
      {
        policy: "mcp-internal-default-deny",
        resource: "(stack)",
        message: 'allow-wide: ingress[0].from[0] uses an ipBlock ({"cidr":"0.0.0.0/0"})',
      },
      {
        policy: "mcp-internal-default-deny",
        resource: "(stack)",
        message:
          "allow-wide: ingress[0].from[1] has an empty namespaceSelector, which selects every namespace",
      },
      {
        policy: "mcp-internal-default-deny",
        resource: "(stack)",
        message: "allow-wide: egress[0].to[0] has an empty namespaceSelector, which selects every namespace",
      },
      {
        policy: "mcp-internal-default-deny",
        resource: "(stack)",
        message: 'allow-wide: egress[1].to[0] uses an ipBlock ({"cidr":"10.0.0.0/8"})',
      },
    ],
  ],
  [
    "egress from mcp-internal to peers DESIGN does not allow",
    () =>
      withExtra(
        internalPolicy("allow-out", {
          podSelector: {},
          policyTypes: ["Egress"],
          egress: [
            { to: [{ podSelector: { matchLabels: { "app.kubernetes.io/name": "haproxy" } } }] },
            {
              to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } } }],
            },
          ],
        }),
      ),
    [
      {
        policy: "mcp-internal-default-deny",
        resource: "(stack)",
        message:
          'allow-out: egress[0].to[0] reaches {"podSelector":{"matchLabels":{"app.kubernetes.io/name":"haproxy"}}}; egress may reach only kube-dns, the Consul servers, MCP service pods, router pods',
      },
      {
        policy: "mcp-internal-default-deny",
        resource: "(stack)",
        message:
          'allow-out: egress[1].to[0] reaches {"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kube-system"}}}; egress may reach only kube-dns, the Consul servers, MCP service pods, router pods',
      },
    ],
  ],
  [
    "workloads in mcp-internal with neither its Namespace nor a default-deny declared",
    () => without("default-deny", without("ns-internal")),
    [
      {
        policy: "mcp-internal-default-deny",
        resource: "(stack)",
        message:
          "mcp-files (no Namespace resource declared): namespace mcp-internal has no default-deny NetworkPolicy (empty podSelector, Ingress and Egress, no rules)",
      },
    ],
  ],
  [
    "a LoadBalancer selecting haproxy pods outside mcp-platform",
    () => variant("haproxy-svc", (p) => (p.metadata.namespace = "mcp-internal")),
    [
      {
        policy: "no-public-services",
        resource: "(stack)",
        message:
          "haproxy-svc (haproxy-public): Service type LoadBalancer is reserved for haproxy's pods in mcp-platform; use ClusterIP",
      },
    ],
  ],
  [
    "a second LoadBalancer in front of haproxy",
    () =>
      withExtra({ ...structuredClone(base.find((s) => s.name === "haproxy-svc")!), name: "haproxy-svc-2" }),
    [
      {
        policy: "no-public-services",
        resource: "(stack)",
        message:
          "2 LoadBalancer Services (haproxy-svc (haproxy-public), haproxy-svc-2 (haproxy-public)); only one, for haproxy's pods in mcp-platform, may exist",
      },
    ],
  ],
  [
    "the stats port made public, directly and as a target port",
    () =>
      variant("haproxy-svc", (p) => (p.spec.ports = [{ port: 3000, targetPort: 11099 }, { port: 11090 }])),
    [
      {
        policy: "published-ports-in-plan",
        resource: "haproxy-svc",
        message:
          "haproxy-svc (haproxy-public): exposes port 3000 onto target port 11099; only 3000 and 11100–11199 may be public",
      },
      {
        policy: "published-ports-in-plan",
        resource: "haproxy-svc",
        message: "haproxy-svc (haproxy-public): exposes port 11090; only 3000 and 11100–11199 may be public",
      },
    ],
  ],
  [
    "a NodePort Service with externalIPs",
    () =>
      variant("router-svc", (p) => {
        p.spec.type = "NodePort";
        p.spec.externalIPs = ["203.0.113.10"];
      }),
    [
      {
        policy: "no-public-services",
        resource: "(stack)",
        message:
          'router-svc (router): sets externalIPs ["203.0.113.10"]; nothing may be public but haproxy\'s pods in mcp-platform',
      },
      {
        policy: "no-public-services",
        resource: "(stack)",
        message: "router-svc (router): Service type NodePort opens a port on every node; use ClusterIP",
      },
    ],
  ],
  [
    "an Ingress",
    () =>
      withExtra({
        type: K.ingress,
        name: "mcp-ingress",
        props: { metadata: { name: "mcp", namespace: "mcp-internal" }, spec: { rules: [] } },
      }),
    [
      {
        policy: "no-public-services",
        resource: "(stack)",
        message:
          "mcp-ingress (mcp): an Ingress is public; only haproxy's pods in mcp-platform may be, through its LoadBalancer",
      },
    ],
  ],
  [
    "a Consul Helm release with a public UI and server Service",
    () =>
      withExtra({
        type: K.helm,
        name: "consul-release",
        props: {
          name: "consul",
          chart: "consul",
          namespace: "mcp-platform",
          values: {
            ui: { enabled: true, service: { type: "LoadBalancer" } },
            server: { replicas: 3, exposeService: { type: "NodePort" } },
          },
        },
      }),
    [
      {
        policy: "no-public-services",
        resource: "(stack)",
        message: "consul-release (consul): Helm value ui.service.type is LoadBalancer; use ClusterIP",
      },
      {
        policy: "no-public-services",
        resource: "(stack)",
        message: "consul-release (consul): Helm value server.exposeService.type is NodePort; use ClusterIP",
      },
    ],
  ],
];
