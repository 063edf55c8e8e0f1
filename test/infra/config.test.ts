import {
  certificateRegion,
  checkSecretConfig,
  cpuMillis,
  DEFAULT_RESOURCES,
  memoryBytes,
  parseStackConfig,
  rawFromPulumiConfig,
  StackConfigError,
} from "../../infra/config";
import { buildTopology, component } from "../../infra/topology";
import { rawStackConfig, stackConfig } from "../helpers/stack-files";

/** The id part of the test certificates' ARNs. */
const CERT_ID = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";

/** The problems a raw config is rejected with; fails the test when it is accepted. */
function problemsOf(raw: Record<string, unknown>): string[] {
  try {
    parseStackConfig(raw);
  } catch (e) {
    if (e instanceof StackConfigError) return e.problems;
    throw e;
  }
  throw new Error("config was accepted");
}

/** The dev config with one change applied. */
function devWith(change: (raw: Record<string, any>) => void): Record<string, unknown> {
  const raw = structuredClone(rawStackConfig("dev")) as Record<string, any>;
  change(raw);
  return raw;
}

describe("stack config", () => {
  test("the committed dev and prod configs parse", () => {
    // GIVEN the committed stack files / WHEN parsed
    const dev = stackConfig("dev");
    const prod = stackConfig("prod");
    // THEN they carry the targets and the catalog DESIGN describes
    expect(dev.target).toBe("docker");
    expect(prod.target).toBe("eks");
    expect(dev.services.map((s) => [s.name, s.port])).toStrictEqual([
      ["files", 11101],
      ["memory", 11105],
      ["everything", 11106],
      ["echo", 11107],
    ]);
    expect(dev.ports).toStrictEqual({
      gateway: 3000,
      grpc: 50051,
      consul: 11090,
      monitor: 11091,
      stats: 11099,
    });
    expect(prod.eks?.autoscaling).toStrictEqual({
      minReplicas: 3,
      maxReplicas: 10,
      cpuPercent: 70,
      memoryPercent: 80,
    });
    expect(prod.services).toStrictEqual(dev.services);
  });

  test("defaults fill what a stack leaves out", () => {
    // GIVEN a config with only the required keys
    const raw = {
      target: "docker",
      services: [{ name: "echo", port: 11100, toolSet: { kind: "builtin", name: "diagnostics" } }],
    };
    // WHEN parsed
    const cfg = parseStackConfig(raw);
    // THEN the port plan and replica defaults apply
    expect(cfg.ports).toStrictEqual({
      gateway: 3000,
      grpc: 50051,
      consul: 11090,
      monitor: 11091,
      stats: 11099,
    });
    expect(cfg.router).toStrictEqual({ replicas: 2 });
    expect(cfg.services[0]).toStrictEqual({
      name: "echo",
      port: 11100,
      toolSet: { kind: "builtin", name: "diagnostics" },
      replicas: 1,
      bridgeProcesses: 1,
      singleton: false,
      env: {},
      secretEnv: {},
    });
    expect(cfg.publishAddress).toBe("127.0.0.1");
  });

  test.each<[string, (raw: Record<string, any>) => void, string[]]>([
    [
      "a service port out of range",
      (r) => (r.services[2].port = 11250),
      ["mcp-platform:services[2].port: 11250 is outside 11100–11199"],
    ],
    [
      "a duplicate service port",
      (r) => (r.services[1].port = 11101),
      ["mcp-platform:services[1].port: 11101 is already used by services[0] (files)"],
    ],
    [
      "a bad service name",
      (r) => (r.services[0].name = "Files_2"),
      ['mcp-platform:services[0].name: must be lower-case letters, digits and single dashes (got "Files_2")'],
    ],
    [
      "a duplicate service name",
      (r) => (r.services[3].name = "files"),
      ['mcp-platform:services[3].name: "files" is already used by services[0]'],
    ],
    [
      "replicas below 1",
      (r) => (r.services[0].replicas = 0),
      ["mcp-platform:services[0].replicas: must be at least 1 (got 0)"],
    ],
    [
      "router replicas below 1",
      (r) => (r.router.replicas = 0),
      ["mcp-platform:router.replicas: must be at least 1 (got 0)"],
    ],
    [
      "an unknown target",
      (r) => (r.target = "nomad"),
      ['mcp-platform:target: "nomad" is not one of docker, eks'],
    ],
    [
      "an unpinned stdio package",
      (r) => (r.services[0].toolSet.version = "^2026.8.31"),
      ['mcp-platform:services[0].toolSet.version: "^2026.8.31" is not a pinned version (x.y.z)'],
    ],
    [
      "a stdio package at latest",
      (r) => (r.services[1].toolSet.version = "latest"),
      ['mcp-platform:services[1].toolSet.version: "latest" is not a pinned version (x.y.z)'],
    ],
    [
      "an infrastructure port out of range",
      (r) => (r.ports.consul = 8500),
      ["mcp-platform:ports.consul: 8500 is outside 11090–11099"],
    ],
    [
      "a front port inside the reserved plan",
      (r) => (r.ports.gateway = 11150),
      [
        "mcp-platform:ports.gateway: 11150 is inside the reserved 11090–11199 plan; front ports live outside it",
      ],
    ],
    [
      "two infrastructure ports on one number",
      (r) => (r.ports.monitor = 11090),
      ["mcp-platform:ports.monitor: 11090 is already used by ports.consul"],
    ],
    ["an unknown key", (r) => (r.servics = []), ["mcp-platform:servics is not a known key"]],
    [
      "an unknown nested key",
      (r) => (r.services[0].replica = 2),
      ["mcp-platform:services[0].replica is not a known key"],
    ],
    [
      "a secret in plain env",
      (r) => (r.services[0].env = { GITHUB_TOKEN: "ghp_x" }),
      [
        "mcp-platform:services[0].env.GITHUB_TOKEN: looks like a secret: put it in secretEnv and set it with `pulumi config set --secret` (value hidden)",
      ],
    ],
    [
      "a service overriding a variable the platform sets",
      (r) => {
        r.services[0].env = { PORT: "9999" };
        r.services[1].secretEnv = { CONSUL_HTTP_TOKEN: "consulToken" };
      },
      [
        "mcp-platform:services[0].env.PORT: is set by the platform for every service; it cannot be overridden",
        "mcp-platform:services[1].secretEnv.CONSUL_HTTP_TOKEN: is set by the platform for every service; it cannot be overridden",
      ],
    ],
    [
      "a service env the mcp-server itself would refuse at boot, or a platform secret's name",
      (r) => {
        r.services[0].env = { LOG_LEVEL: "DEBUG", MCP_MAX_BODY_BYTES: "10", NODE_ENV: "production" };
        r.services[1].secretEnv = { MCP_ALLOWED_ORIGINS: "origins", ROUTER_AUTH_TOKENS: "tokens" };
      },
      [
        'mcp-platform:services[0].env.LOG_LEVEL: is read by the mcp-server too, which would refuse it at boot: must be one of fatal, error, warn, info, debug, trace, silent (got "DEBUG")',
        'mcp-platform:services[0].env.MCP_MAX_BODY_BYTES: is read by the mcp-server too, which would refuse it at boot: must be an integer between 1024 and 104857600 (got "10")',
        "mcp-platform:services[1].secretEnv.MCP_ALLOWED_ORIGINS: is read by the mcp-server too, which a secret's value cannot be checked for: set it in env",
        "mcp-platform:services[1].secretEnv.ROUTER_AUTH_TOKENS: is one of the platform's own secret variables; a service cannot be given it",
      ],
    ],
    [
      "a secret named by a stack config key",
      (r) => (r.services[0].secretEnv = { GH_TOKEN: "monitor", OTHER_TOKEN: "toString" }),
      [
        'mcp-platform:services[0].secretEnv.GH_TOKEN: names the stack config key "monitor"; give the secret a key of its own',
      ],
    ],
    [
      "a monitor interval or an HAProxy stream timeout past what they take",
      (r) => {
        r.monitor = { intervalMs: 4_000_000 };
        r.haproxy = { streamTimeoutSeconds: 3_000_000 };
      },
      [
        "mcp-platform:monitor.intervalMs: must be at most 3600000 (an hour) (got 4000000)",
        "mcp-platform:haproxy.streamTimeoutSeconds: must be at most 2147483 (HAProxy's longest timeout, about 24 days) (got 3000000)",
      ],
    ],
    [
      "a singleton with more than one instance or process, or an HPA",
      (r) => {
        r.services[1] = { ...r.services[1], singleton: true, replicas: 2, bridgeProcesses: 3 };
        r.services[1].autoscaling = { maxReplicas: 4 };
      },
      [
        "mcp-platform:services[1].replicas: 2 replicas: a singleton runs exactly 1",
        "mcp-platform:services[1].bridgeProcesses: 3 processes: a singleton runs exactly 1",
        "mcp-platform:services[1].autoscaling: a singleton does not autoscale",
      ],
    ],
    [
      "an HPA that may shrink to one pod",
      (r) => (r.services[0].autoscaling = { minReplicas: 1 }),
      [
        "mcp-platform:services[0].autoscaling.minReplicas: must be at least 2 (a service that must run as one instance is `singleton: true`) (got 1)",
      ],
    ],
    [
      "the eks target without eks settings",
      (r) => (r.target = "eks"),
      ["mcp-platform:eks: is required when target is eks (got (missing))"],
    ],
    [
      "an unpinned upstream image",
      (r) => (r.images = { haproxy: "haproxy:latest" }),
      ['mcp-platform:images.haproxy: "haproxy:latest" is not pinned to a tag or digest'],
    ],
    [
      "an unknown tool set kind",
      (r) => (r.services[3].toolSet = { kind: "python", name: "x" }),
      ['mcp-platform:services[3].toolSet.kind: must have kind "builtin" or "stdio" (got "python")'],
    ],
    [
      "no services",
      (r) => (r.services = []),
      ["mcp-platform:services: must list at least one MCP service (got [])"],
    ],
    [
      "a volume that climbs out of /data",
      (r) => (r.services[0].volume.mountPath = "/data/../etc"),
      [
        `mcp-platform:services[0].volume.mountPath: must be /data (the one path the image prepares for a writable volume) (got "/data/../etc")`,
      ],
    ],
    [
      "a volume under /data (a path the image lacks: Docker would give the volume to root)",
      (r) => (r.services[0].volume.mountPath = "/data/files"),
      [
        `mcp-platform:services[0].volume.mountPath: must be /data (the one path the image prepares for a writable volume) (got "/data/files")`,
      ],
    ],
    [
      "a volume outside /data",
      (r) => (r.services[0].volume.mountPath = "/srv/files"),
      [
        `mcp-platform:services[0].volume.mountPath: must be /data (the one path the image prepares for a writable volume) (got "/srv/files")`,
      ],
    ],
    [
      "a port that is not a number",
      (r) => (r.services[0].port = "11101"),
      ['mcp-platform:services[0].port: must be a port number (got "11101")'],
    ],
  ])("rejects %s, naming the key and the value", (_name, change, expected) => {
    // GIVEN the dev config with one defect / WHEN parsed / THEN the error names key and value
    expect(problemsOf(devWith(change))).toStrictEqual(expected);
  });

  test("rejects bad EKS sizing and autoscaling bounds", () => {
    // GIVEN the prod config with an inverted node group and HPA bounds
    const raw = structuredClone(rawStackConfig("prod")) as Record<string, any>;
    raw.eks.nodeGroup.minSize = 5;
    raw.services[0].autoscaling = { minReplicas: 6, maxReplicas: 4 };
    // WHEN parsed / THEN both keys are named
    expect(problemsOf(raw)).toStrictEqual([
      "mcp-platform:eks.nodeGroup: needs minSize ≤ desiredSize ≤ maxSize, got 5 ≤ 3 ≤ 9",
      "mcp-platform:services[0].autoscaling: maxReplicas 4 is below minReplicas 6",
    ]);
  });

  test("refuses a node group too small to give every zone a node", () => {
    // GIVEN three zones (the default) and room for only two nodes in all
    const raw = structuredClone(rawStackConfig("prod")) as Record<string, any>;
    raw.eks.nodeGroup = { ...raw.eks.nodeGroup, minSize: 1, desiredSize: 2, maxSize: 2 };
    // WHEN parsed / THEN maxSize is named with the reason
    expect(problemsOf(raw)).toStrictEqual([
      "mcp-platform:eks.nodeGroup.maxSize: must be at least availabilityZones (3): every zone has its own node group, which needs room for one node",
    ]);
    // AND as many nodes as zones is enough
    raw.eks.nodeGroup.maxSize = 3;
    expect(parseStackConfig(raw).eks?.nodeGroup.maxSize).toBe(3);
  });

  test("refuses origins the services would refuse at boot", () => {
    // GIVEN origins with a path or trailing slash, which MCP_ALLOWED_ORIGINS does not accept
    const raw = devWith((r) => (r.allowedOrigins = ["http://localhost:3000/", "https://ok.example.com"]));
    // WHEN parsed / THEN the key is named, and a bare origin passes
    expect(problemsOf(raw)).toStrictEqual([
      'mcp-platform:allowedOrigins[0]: must be an origin like https://host[:port] (no path, no trailing slash) (got "http://localhost:3000/")',
    ]);
  });

  test("extra Host names reach the gateway and services as MCP_ALLOWED_HOSTS; a URL is refused", () => {
    // GIVEN a LAN name the clients use / WHEN parsed and derived
    const cfg = parseStackConfig(devWith((r) => (r.allowedHosts = ["devbox.lan"])));
    const topology = buildTopology(cfg);
    // THEN the router and every MCP service accept it, the monitor needs not
    expect(component(topology, "router").env.MCP_ALLOWED_HOSTS).toBe("devbox.lan");
    expect(component(topology, "mcp-files").env.MCP_ALLOWED_HOSTS).toBe("devbox.lan");
    expect(component(topology, "network-monitor").env.MCP_ALLOWED_HOSTS).toBeUndefined();
    expect(component(buildTopology(stackConfig("dev")), "router").env.MCP_ALLOWED_HOSTS).toBeUndefined();
    expect(
      problemsOf(devWith((r) => (r.allowedHosts = ["http://devbox.lan/", "devbox.lan:3000", "fd00::1"]))),
    ).toStrictEqual([
      'mcp-platform:allowedHosts[0]: must be an IP address or host name (no scheme, no port) (got "http://devbox.lan/")',
      'mcp-platform:allowedHosts[1]: must be an IP address or host name (no scheme, no port) (got "devbox.lan:3000")',
    ]);
  });

  test("Cluster Autoscaler's image must be of the cluster's Kubernetes minor", () => {
    // GIVEN the prod config upgraded to 1.34 but still on the 1.33 autoscaler, and a digest-only image
    const raw = structuredClone(rawStackConfig("prod")) as Record<string, any>;
    raw.eks.kubernetesVersion = "1.34";
    const digest = structuredClone(rawStackConfig("prod")) as Record<string, any>;
    digest.eks.clusterAutoscalerImage = `registry.k8s.io/autoscaling/cluster-autoscaler@sha256:${"a".repeat(64)}`;
    // WHEN parsed / THEN the key is named with the fix; a matching tag passes
    expect(problemsOf(raw)).toStrictEqual([
      "mcp-platform:eks.clusterAutoscalerImage: is for Kubernetes 1.33; the cluster runs 1.34: use a v1.34.x tag",
    ]);
    expect(problemsOf(digest)).toStrictEqual([
      "mcp-platform:eks.clusterAutoscalerImage: has no vX.Y.Z tag; the cluster runs 1.33: use a v1.33.x tag",
    ]);
    raw.eks.clusterAutoscalerImage = "registry.k8s.io/autoscaling/cluster-autoscaler:v1.34.1";
    expect(parseStackConfig(raw).eks?.clusterAutoscalerImage).toBe(
      "registry.k8s.io/autoscaling/cluster-autoscaler:v1.34.1",
    );
  });

  test("refuses more instances of a backend than HAProxy has server slots for", () => {
    // GIVEN dev replicas above the 10 default slots, and prod HPA maxima above them
    const dev = devWith((r) => {
      r.router = { replicas: 11 };
      r.services[0].replicas = 12;
    });
    const prod = structuredClone(rawStackConfig("prod")) as Record<string, any>;
    prod.eks.autoscaling = { maxReplicas: 11 };
    prod.services[0].autoscaling = { maxReplicas: 14 };
    // WHEN parsed / THEN each key that sets too many is named once (a singleton keeps its 1)
    const why = (n: number) =>
      `${n} instances, but HAProxy routes to at most haproxy.serverSlots = 10 per backend; raise haproxy.serverSlots`;
    expect(problemsOf(dev)).toStrictEqual([
      `mcp-platform:router.replicas: ${why(11)}`,
      `mcp-platform:services[0].replicas: ${why(12)}`,
    ]);
    expect(problemsOf(prod)).toStrictEqual([
      `mcp-platform:eks.autoscaling.maxReplicas: ${why(11)}`,
      `mcp-platform:services[0].autoscaling.maxReplicas: ${why(14)}`,
    ]);
    // AND more slots make both acceptable
    expect(() => parseStackConfig({ ...dev, haproxy: { serverSlots: 12 } })).not.toThrow();
    expect(() => parseStackConfig({ ...prod, haproxy: { serverSlots: 14 } })).not.toThrow();
  });

  test("checks the platform's secrets as the router does, never showing them", () => {
    // GIVEN secret config values the router would refuse at boot
    const bad = {
      "mcp-platform:routerSessionKey": "short-secret",
      "mcp-platform:routerSessionAcceptedKeys": `${"a".repeat(32)},with space ${"b".repeat(32)}`,
      "mcp-platform:routerAuthTokens": "tooshort",
    };
    // WHEN checked / THEN each key is named with the router's reason, and no value appears
    let problems: string[] = [];
    try {
      checkSecretConfig(bad);
    } catch (e) {
      if (!(e instanceof StackConfigError)) throw e;
      problems = e.problems;
    }
    expect(problems).toStrictEqual([
      "mcp-platform:routerSessionKey: must be at least 32 characters (value hidden)",
      "mcp-platform:routerSessionAcceptedKeys: must not contain commas or whitespace (value hidden)",
      "mcp-platform:routerAuthTokens: tokens must be at least 16 characters (value hidden)",
    ]);
    expect(problems.join("\n")).not.toMatch(/short-secret|tooshort|with space/);
    // AND good values, or none, pass
    expect(() =>
      checkSecretConfig({
        "mcp-platform:routerSessionKey": "k".repeat(32),
        "mcp-platform:routerAuthTokens": "t".repeat(16),
      }),
    ).not.toThrow();
    expect(() => checkSecretConfig({})).not.toThrow();
  });

  test("EKS settings default requests and limits, a 3-server Consul, two HAProxy pods and a gateway-only load balancer", () => {
    // GIVEN the prod config without the optional EKS keys
    const raw = structuredClone(rawStackConfig("prod")) as Record<string, any>;
    delete raw.eks.resources;
    delete raw.eks.consul;
    delete raw.eks.haproxy;
    delete raw.eks.exposeServicePorts;
    delete raw.eks.backups;
    // WHEN parsed
    const eks = parseStackConfig(raw).eks;
    // THEN the defaults apply, and the committed prod file states exactly those defaults
    expect(stackConfig("prod").eks?.haproxy).toStrictEqual(eks?.haproxy);
    expect([eks?.backups, stackConfig("prod").eks?.backups]).toStrictEqual([true, true]);
    expect([eks?.resources, eks?.consul, eks?.haproxy, eks?.exposeServicePorts]).toStrictEqual([
      {
        router: { requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: "1", memory: "512Mi" } },
        mcpService: { requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: "1", memory: "1Gi" } },
        haproxy: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "1", memory: "256Mi" } },
        networkMonitor: {
          requests: { cpu: "100m", memory: "128Mi" },
          limits: { cpu: "500m", memory: "256Mi" },
        },
        consul: { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "500m", memory: "512Mi" } },
      },
      { replicas: 3, storageGi: 10 },
      { replicas: 2 },
      false,
    ]);
    expect(stackConfig("prod").eks?.resources).toStrictEqual(DEFAULT_RESOURCES);
  });

  test.each<[string, (eks: Record<string, any>) => void, string[]]>([
    [
      "a CPU limit below its request",
      (e) => (e.resources.router.limits.cpu = "100m"),
      ["mcp-platform:eks.resources.router.limits.cpu: 100m is below requests.cpu 250m"],
    ],
    [
      "a memory limit below its request",
      (e) => (e.resources.mcpService.limits.memory = "128Mi"),
      ["mcp-platform:eks.resources.mcpService.limits.memory: 128Mi is below requests.memory 256Mi"],
    ],
    [
      "a CPU quantity that is not one",
      (e) => (e.resources.haproxy.requests.cpu = "fast"),
      [
        'mcp-platform:eks.resources.haproxy.requests.cpu: must be a CPU quantity such as "250m" or "1" (got "fast")',
      ],
    ],
    [
      "a memory quantity without a unit",
      (e) => (e.resources.consul.limits.memory = "512"),
      [
        'mcp-platform:eks.resources.consul.limits.memory: must be a memory quantity such as "256Mi" (got "512")',
      ],
    ],
    [
      "an even Consul quorum",
      (e) => (e.consul.replicas = 2),
      ["mcp-platform:eks.consul.replicas: 2 is even; a Raft quorum needs 1, 3, 5 or 7"],
    ],
    [
      "a metrics scraper namespace that cannot be one",
      (e) => (e.metricsScraper = { namespace: "Monitoring" }),
      ['mcp-platform:eks.metricsScraper.namespace: must be a Kubernetes namespace name (got "Monitoring")'],
    ],
    [
      "no HAProxy pod",
      (e) => (e.haproxy.replicas = 0),
      ["mcp-platform:eks.haproxy.replicas: must be at least 1 (got 0)"],
    ],
    [
      "a TLS certificate from another region than the load balancer",
      (e) =>
        (e.tls = {
          certificateArn: `arn:aws:acm:us-east-1:123456789012:certificate/${CERT_ID}`,
          hostname: "mcp.example.com",
        }),
      [
        "mcp-platform:eks.tls.certificateArn: is in us-east-1; the load balancer in eu-west-1 needs a certificate from eu-west-1",
      ],
    ],
    [
      "a TLS certificate that is not an ACM ARN",
      (e) => (e.tls = { certificateArn: "mcp.example.com.pem", hostname: "mcp.example.com" }),
      [
        'mcp-platform:eks.tls.certificateArn: must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>) (got "mcp.example.com.pem")',
      ],
    ],
    [
      "a TLS host name given as a URL",
      (e) =>
        (e.tls = {
          certificateArn: `arn:aws:acm:eu-west-1:123456789012:certificate/${CERT_ID}`,
          hostname: "https://mcp.example.com",
        }),
      [
        'mcp-platform:eks.tls.hostname: must be a lower-case DNS name such as mcp.example.com, covered by the certificate (got "https://mcp.example.com")',
      ],
    ],
    [
      "requests for an unknown workload",
      (e) => (e.resources.postgres = e.resources.router),
      ["mcp-platform:eks.resources.postgres is not a known key"],
    ],
  ])("rejects %s, naming the EKS key", (_name, change, expected) => {
    // GIVEN the prod config with one defect in its EKS settings / WHEN parsed / THEN the key is named
    const raw = structuredClone(rawStackConfig("prod")) as Record<string, any>;
    change(raw.eks);
    expect(problemsOf(raw)).toStrictEqual(expected);
  });

  test("TLS on the load balancer takes a certificate from the cluster's region and a host name", () => {
    // GIVEN the prod config with a certificate in its own region
    const raw = structuredClone(rawStackConfig("prod")) as Record<string, any>;
    const tls = {
      certificateArn: `arn:aws:acm:eu-west-1:123456789012:certificate/${CERT_ID}`,
      hostname: "mcp.example.com",
    };
    raw.eks.tls = tls;
    // WHEN parsed / THEN it is kept as given, and it stays off without it
    expect(parseStackConfig(raw).eks?.tls).toStrictEqual(tls);
    expect(stackConfig("prod").eks?.tls).toBeUndefined();
    expect(certificateRegion(tls.certificateArn)).toBe("eu-west-1");
    expect(certificateRegion("arn:aws:iam::123456789012:server-certificate/mcp")).toBeUndefined();
  });

  test("Kubernetes quantities compare in millicores and bytes", () => {
    expect([cpuMillis("250m"), cpuMillis("1"), cpuMillis("1.5"), cpuMillis("0.25")]).toStrictEqual([
      250, 1000, 1500, 250,
    ]);
    expect([memoryBytes("1Ki"), memoryBytes("256Mi"), memoryBytes("1Gi")]).toStrictEqual([
      1024, 268435456, 1073741824,
    ]);
    expect(() => cpuMillis("1 core")).toThrow('"1 core" is not a CPU quantity');
  });

  test("the error message lists every problem", () => {
    // GIVEN two defects / WHEN parsed
    const raw = devWith((r) => {
      r.services[0].port = 11250;
      r.target = "nomad";
    });
    // THEN the thrown message carries both lines
    expect(() => parseStackConfig(raw)).toThrow(
      'invalid stack config:\n  mcp-platform:target: "nomad" is not one of docker, eks\n  mcp-platform:services[0].port: 11250 is outside 11100–11199',
    );
  });

  test("reads Pulumi's flat config: JSON values, plain strings, other namespaces and secrets", () => {
    // GIVEN config as the CLI passes it, with a secret referenced by secretEnv
    const flat = {
      "mcp-platform:target": "docker",
      "mcp-platform:router": '{"replicas":3}',
      "mcp-platform:services":
        '[{"name":"github","port":11104,"toolSet":{"kind":"builtin","name":"diagnostics"},"secretEnv":{"GITHUB_TOKEN":"githubToken"}}]',
      "mcp-platform:githubToken": "s3cret",
      "mcp-platform:routerSessionKey": "k".repeat(40),
      "aws:region": "eu-west-1",
    };
    // WHEN read
    const raw = rawFromPulumiConfig(flat);
    // THEN secrets and foreign keys stay out of the validated config
    expect(Object.keys(raw).sort()).toStrictEqual(["router", "services", "target"]);
    expect(parseStackConfig(raw).services[0]?.secretEnv).toStrictEqual({ GITHUB_TOKEN: "githubToken" });
  });
});
