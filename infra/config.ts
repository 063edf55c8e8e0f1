/**
 * The stack config: one zod schema for everything `Pulumi.<stack>.yaml` may hold, and a loader
 * whose errors name the key and the value (`mcp-platform:services[2].port: 11250 is outside
 * 11100–11199`). Pure: the Pulumi-facing reader lives in `readStackConfig`.
 */
import { z } from "zod";
import {
  acceptedSessionSecretsField,
  hostField,
  originField,
  routerAuthTokensField,
  sessionSecretField,
} from "../services/shared/src/env-fields";
import { SECRET_ENV_NAMES } from "../services/shared/src/env";
import { McpServerEnvSchema } from "../services/mcp-server/src/env";

/** The Pulumi project name; config keys are `mcp-platform:<key>`. */
export const PROJECT = "mcp-platform";

/** Port plan from DESIGN "Networks and ports". */
export const PORT_RANGES = {
  infrastructure: { min: 11090, max: 11099 },
  mcp: { min: 11100, max: 11199 },
} as const;

/** Environment variable names: upper snake case. */
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
/** Env names that carry credentials and so must come from `pulumi config set --secret`. */
const SECRET_LOOKING_ENV = /(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY|CREDENTIALS?)$/;
/**
 * Variables the platform sets on every MCP service container (its address, identity, Consul and
 * bridge wiring); a service's `env` or `secretEnv` overriding one would break the wiring, and
 * `MCP_BRIDGE_ENV` would hand its value to the bridged child.
 */
const PLATFORM_ENV: readonly string[] = [
  "HOST",
  "PORT",
  "SERVICE_NAME",
  "SERVICE_ADDRESS",
  "CONSUL_HTTP_ADDR",
  "CONSUL_HTTP_TOKEN",
  "MCP_SERVER",
  "MCP_BRIDGE_ENV",
  "MCP_BRIDGE_PROCESSES",
];
/** The mcp-server's variables, each with its own check: a service's `env` reaches it too. */
const MCP_SERVER_ENV: Readonly<Record<string, z.ZodType>> = McpServerEnvSchema.shape;
/** An exact semver version: no ranges, tags or `latest`. */
const PINNED_VERSION = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;
/** An npm package name, optionally scoped. */
const NPM_PACKAGE = /^(?:@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*$/;
/** A container image reference pinned by tag (not `latest`) or by digest. */
const PINNED_IMAGE = /^[a-z0-9][a-z0-9._/-]*(?::(?!latest$)[A-Za-z0-9._-]+|@sha256:[a-f0-9]{64})$/;

const port = (min: number, max: number) =>
  z
    .number({ error: "must be a port number" })
    .int("must be a whole number")
    .refine((p) => p >= min && p <= max, { error: (i) => `${String(i.input)} is outside ${min}–${max}` });

const envMap = z.record(
  z.string().regex(ENV_NAME, "must be an UPPER_SNAKE_CASE variable name"),
  z.string({ error: "must be a string" }),
);

/** Autoscaling bounds for one HPA-managed workload (prod). */
export const AutoscalingSchema = z
  .object({
    // An HPA keeps at least two pods (the policy pack's hpa-bounds); one instance is `singleton`.
    minReplicas: z
      .number()
      .int()
      .min(2, "must be at least 2 (a service that must run as one instance is `singleton: true`)")
      .default(3),
    maxReplicas: z.number().int().min(1, "must be at least 1").default(10),
    cpuPercent: z.number().int().min(1).max(100, "must be at most 100").default(70),
    memoryPercent: z.number().int().min(1).max(100, "must be at most 100").default(80),
  })
  .strict();
export type Autoscaling = z.infer<typeof AutoscalingSchema>;

/** The built-in diagnostic tool set (`echo` and friends) of the mcp-server image. */
const BuiltinToolSetSchema = z
  .object({ kind: z.literal("builtin"), name: z.literal("diagnostics") })
  .strict();

/** An ecosystem stdio MCP server from npm, baked into the mcp-server image at a pinned version. */
const StdioToolSetSchema = z
  .object({
    kind: z.literal("stdio"),
    package: z.string().regex(NPM_PACKAGE, "must be an npm package name"),
    version: z.string().refine((v) => PINNED_VERSION.test(v), {
      error: (i) => `${JSON.stringify(i.input)} is not a pinned version (x.y.z)`,
    }),
    bin: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, "must be the package's executable name"),
    args: z.array(z.string()).default([]),
    env: envMap.default({}),
  })
  .strict();

/** What a service hosts: built-in tools or a bridged stdio server. */
export const ToolSetSchema = z.discriminatedUnion("kind", [BuiltinToolSetSchema, StdioToolSetSchema], {
  error: 'must have kind "builtin" or "stdio"',
});
export type ToolSet = z.infer<typeof ToolSetSchema>;

/** One MCP service of the catalog: the mcp-server image with one tool set. */
export const McpServiceSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, "must be lower-case letters, digits and single dashes")
      .max(40, "must be at most 40 characters")
      .refine((n) => !n.startsWith("mcp-"), { error: 'must not start with "mcp-" (it is added for you)' }),
    port: port(PORT_RANGES.mcp.min, PORT_RANGES.mcp.max),
    toolSet: ToolSetSchema,
    replicas: z.number().int().min(1, "must be at least 1").max(20, "must be at most 20").default(1),
    autoscaling: AutoscalingSchema.partial().optional(),
    bridgeProcesses: z.number().int().min(1).max(16).default(1),
    /**
     * Exactly one instance with one bridge process, in both stacks (no HPA in prod, and updates
     * stop the old pod before starting the new one): for a tool that keeps its state in a file
     * that concurrent writers would overwrite, such as server-memory's graph.
     */
    singleton: z.boolean().default(false),
    env: envMap.default({}),
    /** Env var name -> name of a secret config key (`pulumi config set --secret <key>`). */
    secretEnv: z
      .record(z.string().regex(ENV_NAME, "must be an UPPER_SNAKE_CASE variable name"), z.string().min(1))
      .default({}),
    volume: z
      .object({
        // The mcp-server image prepares /data for its non-root user. Docker gives a new volume
        // the owner of its mount point only when the image has that path; mounted anywhere
        // else (a path under /data too) it is owned by root and not writable by the service.
        mountPath: z
          .string()
          .regex(/^\/data$/, "must be /data (the one path the image prepares for a writable volume)"),
        sizeGi: z.number().int().min(1).default(1),
      })
      .strict()
      .optional(),
  })
  .strict();
export type McpService = z.infer<typeof McpServiceSchema>;

/** Host ports of the front door and the infrastructure. */
export const PortsSchema = z
  .object({
    gateway: port(1, 65535).default(3000),
    grpc: port(1, 65535).default(50051),
    consul: port(PORT_RANGES.infrastructure.min, PORT_RANGES.infrastructure.max).default(11090),
    monitor: port(PORT_RANGES.infrastructure.min, PORT_RANGES.infrastructure.max).default(11091),
    stats: port(PORT_RANGES.infrastructure.min, PORT_RANGES.infrastructure.max).default(11099),
  })
  .strict();
export type Ports = z.infer<typeof PortsSchema>;

const pinnedImage = z.string().refine((s) => PINNED_IMAGE.test(s), {
  error: (i) => `${JSON.stringify(i.input)} is not pinned to a tag or digest`,
});

/** Upstream images the platform runs unmodified. */
export const ImagesSchema = z
  .object({
    haproxy: pinnedImage.default("haproxy:3.0.11-alpine"),
    consul: pinnedImage.default("hashicorp/consul:1.20.5"),
  })
  .strict();

const CPU_QUANTITY = /^(?:\d+m|\d+(?:\.\d{1,3})?)$/;
const MEMORY_QUANTITY = /^\d+(?:Ki|Mi|Gi)$/;
const MEMORY_UNIT = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 } as const;

/** A Kubernetes CPU quantity in millicores: `"250m"` is 250, `"1.5"` is 1500. */
export function cpuMillis(quantity: string): number {
  if (!CPU_QUANTITY.test(quantity)) throw new Error(`${JSON.stringify(quantity)} is not a CPU quantity`);
  return quantity.endsWith("m") ? Number(quantity.slice(0, -1)) : Math.round(Number(quantity) * 1000);
}

/** A Kubernetes memory quantity in bytes: `"256Mi"` is 268435456. */
export function memoryBytes(quantity: string): number {
  if (!MEMORY_QUANTITY.test(quantity))
    throw new Error(`${JSON.stringify(quantity)} is not a memory quantity`);
  const unit = quantity.slice(-2) as keyof typeof MEMORY_UNIT;
  return Number(quantity.slice(0, -2)) * MEMORY_UNIT[unit];
}

const ComputeSchema = z
  .object({
    cpu: z.string().regex(CPU_QUANTITY, 'must be a CPU quantity such as "250m" or "1"'),
    memory: z.string().regex(MEMORY_QUANTITY, 'must be a memory quantity such as "256Mi"'),
  })
  .strict();

/** Requests and limits of one container (prod). The HPA's utilisation targets are relative to requests. */
export const ResourcesSchema = z.object({ requests: ComputeSchema, limits: ComputeSchema }).strict();
export type Resources = z.infer<typeof ResourcesSchema>;

const sized = (reqCpu: string, reqMemory: string, limCpu: string, limMemory: string): Resources => ({
  requests: { cpu: reqCpu, memory: reqMemory },
  limits: { cpu: limCpu, memory: limMemory },
});

/**
 * Per-workload defaults, sized so a 3 × m6i.large node group holds every HPA at its minimum. An MCP
 * service gets more memory than the router: its bridged stdio servers run in the same container.
 */
export const DEFAULT_RESOURCES = {
  router: sized("250m", "256Mi", "1", "512Mi"),
  mcpService: sized("250m", "256Mi", "1", "1Gi"),
  haproxy: sized("100m", "128Mi", "1", "256Mi"),
  networkMonitor: sized("100m", "128Mi", "500m", "256Mi"),
  consul: sized("100m", "256Mi", "500m", "512Mi"),
} as const satisfies Record<string, Resources>;

/** Requests and limits per workload kind; every MCP service takes `mcpService`. */
export const WorkloadResourcesSchema = z
  .object({
    router: ResourcesSchema.default(DEFAULT_RESOURCES.router),
    mcpService: ResourcesSchema.default(DEFAULT_RESOURCES.mcpService),
    haproxy: ResourcesSchema.default(DEFAULT_RESOURCES.haproxy),
    networkMonitor: ResourcesSchema.default(DEFAULT_RESOURCES.networkMonitor),
    consul: ResourcesSchema.default(DEFAULT_RESOURCES.consul),
  })
  .strict();
export type WorkloadResources = z.infer<typeof WorkloadResourcesSchema>;

/** The Consul servers of the prod stack (Helm chart): a Raft quorum on EBS volumes. */
export const ConsulClusterSchema = z
  .object({
    replicas: z
      .number()
      .int()
      .min(1, "must be at least 1")
      .max(7, "must be at most 7")
      .refine((n) => n % 2 === 1, {
        error: (i) => `${String(i.input)} is even; a Raft quorum needs 1, 3, 5 or 7`,
      }),
    storageGi: z.number().int().min(1, "must be at least 1"),
  })
  .strict();

/** An ACM certificate's ARN; the capture is its region. */
const ACM_CERTIFICATE_ARN =
  /^arn:aws(?:-[a-z]+)*:acm:([a-z]{2}(?:-[a-z]+)+-\d):\d{12}:certificate\/[0-9a-f-]+$/;
/** A fully qualified DNS name such as `mcp.example.com`. */
const DNS_NAME = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/;

/**
 * TLS on the load balancer: its listeners terminate TLS with an ACM certificate for `hostname`,
 * a name the operator points at the load balancer (CNAME or alias record). Without it, the
 * gateway is plain HTTP on the internet.
 */
export const TlsSchema = z
  .object({
    certificateArn: z
      .string()
      .regex(
        ACM_CERTIFICATE_ARN,
        "must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)",
      ),
    hostname: z
      .string()
      .regex(DNS_NAME, "must be a lower-case DNS name such as mcp.example.com, covered by the certificate"),
  })
  .strict();
export type Tls = z.infer<typeof TlsSchema>;

/** The region of an ACM certificate ARN, or undefined for anything else. */
export function certificateRegion(arn: string): string | undefined {
  return ACM_CERTIFICATE_ARN.exec(arn)?.[1];
}

/** Cluster Autoscaler's chart and image when a stack names none (for Kubernetes 1.33). */
export const CLUSTER_AUTOSCALER_DEFAULTS = {
  chart: "9.50.1",
  image: "registry.k8s.io/autoscaling/cluster-autoscaler:v1.33.6",
} as const;

/** The `1.x` minor of a Cluster Autoscaler image tag (`...:v1.33.6` is `1.33`), if it has one. */
export function imageMinorVersion(image: string): string | undefined {
  return /:v?(\d+\.\d+)\.\d+(?:[-@].*)?$/.exec(image)?.[1];
}

/** Cluster sizing and add-on versions of the EKS target. */
export const EksSchema = z
  .object({
    region: z.string().regex(/^[a-z]{2}(?:-[a-z]+)+-\d$/, "must be an AWS region such as eu-west-1"),
    kubernetesVersion: z.string().regex(/^1\.\d+$/, "must be a Kubernetes minor version such as 1.33"),
    availabilityZones: z.number().int().min(2, "must be at least 2").max(6).default(3),
    vpcCidr: z
      .string()
      .regex(/^\d+\.\d+\.\d+\.\d+\/\d+$/, "must be a CIDR block")
      .default("10.0.0.0/16"),
    nodeGroup: z
      .object({
        instanceType: z.string().regex(/^[a-z0-9]+\.[a-z0-9]+$/, "must be an EC2 instance type"),
        minSize: z.number().int().min(1),
        desiredSize: z.number().int().min(1),
        maxSize: z.number().int().min(1),
      })
      .strict(),
    autoscaling: AutoscalingSchema.default({
      minReplicas: 3,
      maxReplicas: 10,
      cpuPercent: 70,
      memoryPercent: 80,
    }),
    charts: z
      .object({
        consul: z.string().regex(PINNED_VERSION, "must be a pinned chart version"),
        awsLoadBalancerController: z.string().regex(PINNED_VERSION, "must be a pinned chart version"),
        metricsServer: z.string().regex(PINNED_VERSION, "must be a pinned chart version"),
        clusterAutoscaler: z
          .string()
          .regex(PINNED_VERSION, "must be a pinned chart version")
          .default(CLUSTER_AUTOSCALER_DEFAULTS.chart),
      })
      .strict(),
    /**
     * Cluster Autoscaler's image: its minor version must be the cluster's (the project publishes
     * one release line per Kubernetes minor).
     */
    clusterAutoscalerImage: pinnedImage.default(CLUSTER_AUTOSCALER_DEFAULTS.image),
    resources: WorkloadResourcesSchema.default(WorkloadResourcesSchema.parse({})),
    consul: ConsulClusterSchema.default({ replicas: 3, storageGi: 10 }),
    /**
     * HAProxy pods behind the load balancer: two by default, so a node drain, a zone outage or a
     * config rollout never leaves the gateway without a front door.
     */
    haproxy: z
      .object({
        replicas: z.number().int().min(1, "must be at least 1").max(10, "must be at most 10"),
      })
      .strict()
      .default({ replicas: 2 }),
    /**
     * Also publish each MCP service's direct 111xx port on the internet-facing load balancer. Off by
     * default: the direct ports carry no authentication, while the gateway can (`routerAuthTokens`).
     */
    exposeServicePorts: z.boolean({ error: "must be true or false" }).default(false),
    /**
     * EFS automatic backups of the MCP services' volumes (AWS Backup: daily, kept 35 days in its
     * own vault, so they outlive `pulumi destroy`). On by default.
     */
    backups: z.boolean({ error: "must be true or false" }).default(true),
    /** TLS on every listener of the load balancer (off when unset). */
    tls: TlsSchema.optional(),
    /**
     * The namespace of a Prometheus (or agent) that scrapes the pods' `prometheus.io/*`
     * annotations: `mcp-internal`'s NetworkPolicies let it reach each pod's metrics port.
     */
    metricsScraper: z
      .object({
        namespace: z
          .string()
          .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, "must be a Kubernetes namespace name"),
      })
      .strict()
      .optional(),
  })
  .strict();
export type Eks = z.infer<typeof EksSchema>;

/** The whole stack config, after defaults. */
export const StackConfigSchema = z
  .object({
    target: z.enum(["docker", "eks"], {
      error: (i) => `${JSON.stringify(i.input)} is not one of docker, eks`,
    }),
    ports: PortsSchema.default(PortsSchema.parse({})),
    images: ImagesSchema.default(ImagesSchema.parse({})),
    /** Host address the dev stack publishes its ports on; 0.0.0.0 exposes them to the LAN. */
    publishAddress: z.ipv4({ error: "must be an IPv4 address" }).default("127.0.0.1"),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info"),
    // Checked as the services check MCP_ALLOWED_ORIGINS, so what passes here does not stop them at boot.
    allowedOrigins: z.array(originField()).default([]),
    // Further `Host` names the gateway and services accept (MCP_ALLOWED_HOSTS): the name clients
    // use when it is neither an IP, localhost, a single label nor cluster-internal (a LAN name
    // with publishAddress 0.0.0.0, a DNS name in front of the load balancer).
    allowedHosts: z.array(hostField()).default([]),
    router: z
      .object({
        replicas: z.number().int().min(1, "must be at least 1").max(20, "must be at most 20").default(2),
        autoscaling: AutoscalingSchema.partial().optional(),
      })
      .strict()
      .default({ replicas: 2 }),
    monitor: z
      .object({
        // The monitor's own bounds of MONITOR_INTERVAL_MS (from 1 s here).
        intervalMs: z
          .number()
          .int()
          .min(1000, "must be at least 1000")
          .max(3_600_000, "must be at most 3600000 (an hour)")
          .default(10000),
        retentionMinutes: z
          .number()
          .int()
          .min(1)
          .max(24 * 60)
          .default(60),
      })
      .strict()
      .default({ intervalMs: 10000, retentionMinutes: 60 }),
    haproxy: z
      .object({
        /** Server slots per backend that Consul DNS can fill (dev `server-template`). */
        serverSlots: z.number().int().min(1).max(100).default(10),
        streamTimeoutSeconds: z
          .number()
          .int()
          .min(60, "must be at least 60")
          // HAProxy's longest timeout is 2^31 - 1 ms.
          .max(2_147_483, "must be at most 2147483 (HAProxy's longest timeout, about 24 days)")
          .default(3600),
      })
      .strict()
      .default({ serverSlots: 10, streamTimeoutSeconds: 3600 }),
    services: z.array(McpServiceSchema).min(1, "must list at least one MCP service"),
    eks: EksSchema.optional(),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    // `quoted`: the message already shows the offending values, so the loader adds none.
    const issue = (path: (string | number)[], message: string, quoted = true) =>
      ctx.addIssue({ code: "custom", path, message, params: { quoted } });

    const names = new Map<string, number>();
    cfg.services.forEach((s, i) => {
      if (s.singleton) {
        if (s.replicas !== 1)
          issue(["services", i, "replicas"], `${s.replicas} replicas: a singleton runs exactly 1`);
        if (s.bridgeProcesses !== 1) {
          issue(
            ["services", i, "bridgeProcesses"],
            `${s.bridgeProcesses} processes: a singleton runs exactly 1`,
          );
        }
        if (s.autoscaling !== undefined)
          issue(["services", i, "autoscaling"], "a singleton does not autoscale");
      }
      const first = names.get(s.name);
      if (first !== undefined)
        issue(["services", i, "name"], `"${s.name}" is already used by services[${first}]`);
      else names.set(s.name, i);
      for (const [field, keys] of [
        ["env", Object.keys(s.env)],
        ["secretEnv", Object.keys(s.secretEnv)],
      ] as const) {
        for (const key of keys) {
          const path = ["services", i, field, key];
          if (PLATFORM_ENV.includes(key)) {
            issue(path, "is set by the platform for every service; it cannot be overridden");
          } else if (SECRET_ENV_NAMES.includes(key)) {
            issue(path, "is one of the platform's own secret variables; a service cannot be given it");
          } else if (Object.hasOwn(MCP_SERVER_ENV, key) && field === "secretEnv") {
            issue(
              path,
              "is read by the mcp-server too, which a secret's value cannot be checked for: set it in env",
            );
          } else if (Object.hasOwn(MCP_SERVER_ENV, key)) {
            // The service's env reaches the mcp-server itself too, not only its bridged server.
            const parsed = MCP_SERVER_ENV[key]!.safeParse(s.env[key]);
            if (!parsed.success) {
              const why = parsed.error.issues[0]?.message ?? "invalid";
              issue(path, `is read by the mcp-server too, which would refuse it at boot: ${why}`, false);
            }
          }
        }
      }
      for (const [env, key] of Object.entries(s.secretEnv)) {
        if (Object.hasOwn(StackConfigSchema.shape, key)) {
          issue(
            ["services", i, "secretEnv", env],
            `names the stack config key "${key}"; give the secret a key of its own`,
          );
        }
      }
      for (const key of Object.keys(s.env)) {
        if (SECRET_LOOKING_ENV.test(key)) {
          issue(
            ["services", i, "env", key],
            "looks like a secret: put it in secretEnv and set it with `pulumi config set --secret` (value hidden)",
          );
        }
      }
    });

    // HAProxy routes to at most `serverSlots` instances of a backend: more would never get traffic.
    // The most a backend runs is its replica count in dev (and for a singleton), its HPA maximum
    // on EKS; each key that sets too many is reported once.
    const slots = cfg.haproxy.serverSlots;
    const backends = [
      { path: ["router"], replicas: cfg.router.replicas, own: cfg.router.autoscaling, singleton: false },
      ...cfg.services.map((s, i) => ({
        path: ["services", i],
        replicas: s.replicas,
        own: s.autoscaling,
        singleton: s.singleton,
      })),
    ];
    const reported = new Set<string>();
    for (const { path, replicas, own, singleton } of backends) {
      const eks = cfg.target === "eks" && !singleton ? cfg.eks : undefined;
      const [count, at] =
        eks === undefined
          ? [replicas, [...path, "replicas"]]
          : own?.maxReplicas !== undefined
            ? [own.maxReplicas, [...path, "autoscaling", "maxReplicas"]]
            : [eks.autoscaling.maxReplicas, ["eks", "autoscaling", "maxReplicas"]];
      if (count <= slots || reported.has(at.join("."))) continue;
      reported.add(at.join("."));
      issue(
        at,
        `${count} instances, but HAProxy routes to at most haproxy.serverSlots = ${slots} per backend; raise haproxy.serverSlots`,
      );
    }

    const owners = new Map<number, string>();
    const claim = (p: number, who: string, path: (string | number)[]) => {
      const owner = owners.get(p);
      if (owner !== undefined) issue(path, `${p} is already used by ${owner}`);
      else owners.set(p, who);
    };
    for (const [k, p] of Object.entries(cfg.ports)) claim(p, `ports.${k}`, ["ports", k]);
    cfg.services.forEach((s, i) => claim(s.port, `services[${i}] (${s.name})`, ["services", i, "port"]));

    for (const k of ["gateway", "grpc"] as const) {
      const p = cfg.ports[k];
      if (p >= PORT_RANGES.infrastructure.min && p <= PORT_RANGES.mcp.max) {
        issue(["ports", k], `${p} is inside the reserved 11090–11199 plan; front ports live outside it`);
      }
    }

    if (cfg.target === "eks" && cfg.eks === undefined)
      issue(["eks"], "is required when target is eks", false);
    if (cfg.eks) {
      // The NLB can only use a certificate from its own region.
      const certRegion = cfg.eks.tls && certificateRegion(cfg.eks.tls.certificateArn);
      if (certRegion !== undefined && certRegion !== cfg.eks.region) {
        issue(
          ["eks", "tls", "certificateArn"],
          `is in ${certRegion}; the load balancer in ${cfg.eks.region} needs a certificate from ${cfg.eks.region}`,
        );
      }
      const caMinor = imageMinorVersion(cfg.eks.clusterAutoscalerImage);
      if (caMinor !== cfg.eks.kubernetesVersion) {
        const found = caMinor === undefined ? "has no vX.Y.Z tag" : `is for Kubernetes ${caMinor}`;
        issue(
          ["eks", "clusterAutoscalerImage"],
          `${found}; the cluster runs ${cfg.eks.kubernetesVersion}: use a v${cfg.eks.kubernetesVersion}.x tag`,
        );
      }
      const ng = cfg.eks.nodeGroup;
      if (ng.minSize > ng.desiredSize || ng.desiredSize > ng.maxSize) {
        issue(
          ["eks", "nodeGroup"],
          `needs minSize ≤ desiredSize ≤ maxSize, got ${ng.minSize} ≤ ${ng.desiredSize} ≤ ${ng.maxSize}`,
        );
      }
      // One node group per zone (infra/eks/cluster.ts), each able to hold at least one node.
      if (ng.maxSize < cfg.eks.availabilityZones) {
        issue(
          ["eks", "nodeGroup", "maxSize"],
          `must be at least availabilityZones (${cfg.eks.availabilityZones}): every zone has its own node group, which needs room for one node`,
        );
      }
      // Quantities that failed their own format check are already reported; compare the rest.
      const valid = (re: RegExp, ...qs: string[]) => qs.every((q) => re.test(q));
      for (const [workload, r] of Object.entries(cfg.eks.resources)) {
        const path = ["eks", "resources", workload, "limits"];
        const [lim, req] = [r.limits, r.requests];
        if (valid(CPU_QUANTITY, lim.cpu, req.cpu) && cpuMillis(lim.cpu) < cpuMillis(req.cpu))
          issue([...path, "cpu"], `${lim.cpu} is below requests.cpu ${req.cpu}`);
        if (
          valid(MEMORY_QUANTITY, lim.memory, req.memory) &&
          memoryBytes(lim.memory) < memoryBytes(req.memory)
        )
          issue([...path, "memory"], `${lim.memory} is below requests.memory ${req.memory}`);
      }
    }
    const scaled: [(string | number)[], Partial<Autoscaling> | undefined][] = [
      [["eks", "autoscaling"], cfg.eks?.autoscaling],
      [["router", "autoscaling"], cfg.router.autoscaling],
      ...cfg.services.map((s, i): [(string | number)[], Partial<Autoscaling> | undefined] => [
        ["services", i, "autoscaling"],
        s.autoscaling,
      ]),
    ];
    for (const [path, a] of scaled) {
      const merged = { ...cfg.eks?.autoscaling, ...a };
      if (
        a &&
        merged.minReplicas !== undefined &&
        merged.maxReplicas !== undefined &&
        merged.maxReplicas < merged.minReplicas
      ) {
        issue(path, `maxReplicas ${merged.maxReplicas} is below minReplicas ${merged.minReplicas}`);
      }
    }
  });

/** The validated stack config with every default filled in. */
export type StackConfig = z.infer<typeof StackConfigSchema>;

/** Raised for an invalid stack config; the message lists every bad key with its value. */
export class StackConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid stack config:\n  ${problems.join("\n  ")}`);
    this.name = "StackConfigError";
  }
}

/** `services[2].port` from a zod issue path. */
function keyOf(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, seg) => {
    if (typeof seg === "number") return `${acc}[${seg}]`;
    return acc === "" ? String(seg) : `${acc}.${String(seg)}`;
  }, "");
}

/** The value at a zod issue path in the raw input, for the error message. */
function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = raw;
  for (const seg of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

function describe(value: unknown): string {
  if (value === undefined) return "(missing)";
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * Validate raw config values (keyed without the project prefix) into a `StackConfig`.
 * Throws `StackConfigError` naming `mcp-platform:<key>` and the offending value.
 */
export function parseStackConfig(raw: Record<string, unknown>): StackConfig {
  const result = StackConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => {
    if (i.code === "unrecognized_keys") {
      const base = keyOf(i.path);
      return i.keys
        .map((k) => `${PROJECT}:${base === "" ? k : `${base}.${k}`} is not a known key`)
        .join("\n  ");
    }
    const value = valueAt(raw, i.path);
    // Value-bearing messages (`11250 is outside ...`) already quote the value.
    const quoted =
      (i.code === "custom" && i.params?.quoted === true) || i.message.startsWith(describe(value))
        ? ""
        : ` (got ${describe(value)})`;
    return `${PROJECT}:${keyOf(i.path)}: ${i.message}${quoted}`;
  });
  throw new StackConfigError(problems);
}

/** Config keys read as secrets (`pulumi config set --secret`), outside the schema. */
export const SECRET_KEYS = {
  routerSessionKey: "routerSessionKey",
  /** Further session keys the routers open but never seal with, during a key rotation. */
  routerSessionAcceptedKeys: "routerSessionAcceptedKeys",
  routerAuthTokens: "routerAuthTokens",
} as const;

/**
 * The platform's own secret keys, checked as the router (and the monitor, for the tokens) check
 * the variables they become, so a value they would refuse at boot stops `pulumi up` instead of
 * leaving them crash-looping.
 */
const SECRET_RULES: Record<keyof typeof SECRET_KEYS, z.ZodType> = {
  routerSessionKey: sessionSecretField(),
  routerSessionAcceptedKeys: acceptedSessionSecretsField(),
  routerAuthTokens: routerAuthTokensField(),
};

/**
 * Checks the platform's secret keys that are set, from Pulumi's flat config (which holds secrets
 * decrypted). Throws `StackConfigError` naming each bad key; the values are never shown.
 */
export function checkSecretConfig(all: Record<string, string>): void {
  const problems: string[] = [];
  for (const [name, key] of Object.entries(SECRET_KEYS) as [keyof typeof SECRET_KEYS, string][]) {
    const value = all[`${PROJECT}:${key}`];
    if (value === undefined) continue;
    const parsed = SECRET_RULES[name].safeParse(value);
    if (!parsed.success) {
      const reasons = [...new Set(parsed.error.issues.map((i) => i.message))].join("; ");
      problems.push(`${PROJECT}:${key}: ${reasons} (value hidden)`);
    }
  }
  if (problems.length > 0) throw new StackConfigError(problems);
}

/** The secret config keys this raw config refers to: the router's and every `secretEnv` target. */
export function secretKeysOf(raw: Record<string, unknown>): Set<string> {
  const keys = new Set<string>(Object.values(SECRET_KEYS));
  const services = Array.isArray(raw.services) ? raw.services : [];
  for (const s of services) {
    const secretEnv =
      s !== null && typeof s === "object" ? (s as { secretEnv?: unknown }).secretEnv : undefined;
    if (secretEnv !== null && typeof secretEnv === "object") {
      for (const k of Object.values(secretEnv)) if (typeof k === "string") keys.add(k);
    }
  }
  return keys;
}

/**
 * Turn Pulumi's flat config (`{"mcp-platform:services": "<json>"}`) into raw values, without the
 * secret keys (they are read with `requireSecret`). Structured values arrive as JSON text; plain
 * strings (`target: docker`) stay strings. Keys of other namespaces (`aws:region`) are ignored.
 */
export function rawFromPulumiConfig(all: Record<string, string>): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const [fullKey, text] of Object.entries(all)) {
    const sep = fullKey.indexOf(":");
    if (fullKey.slice(0, sep) !== PROJECT) continue;
    try {
      raw[fullKey.slice(sep + 1)] = JSON.parse(text);
    } catch {
      raw[fullKey.slice(sep + 1)] = text;
    }
  }
  for (const key of secretKeysOf(raw)) delete raw[key];
  return raw;
}
