import fc from "fast-check";
import { parseStackConfig, PORT_RANGES } from "../../infra/config";
import type { StackConfig } from "../../infra/config";
import { buildTopology, mcpServerEnv, NETWORK, routerMaxStreamsFor } from "../../infra/topology";
import { rawStackConfig, stackConfig } from "../helpers/stack-files";

const range = (min: number, max: number) => Array.from({ length: max - min + 1 }, (_, i) => min + i);
const BOTH_NETWORKS = ["consul", "haproxy", "network-monitor"];

/** Any valid stack config: 1–30 services, any ports of the plan, either target. */
const anyConfig: fc.Arbitrary<StackConfig> = fc
  .record({
    services: fc.uniqueArray(
      fc.record({
        name: fc
          .stringMatching(/^[a-z][a-z0-9]{0,10}(?:-[a-z0-9]{1,5})?$/)
          .filter((n) => !n.startsWith("mcp-")),
        replicas: fc.integer({ min: 1, max: 5 }),
        stdio: fc.boolean(),
      }),
      { minLength: 1, maxLength: 30, selector: (s) => s.name },
    ),
    infra: fc.shuffledSubarray(range(PORT_RANGES.infrastructure.min, PORT_RANGES.infrastructure.max), {
      minLength: 3,
      maxLength: 3,
    }),
    front: fc.uniqueArray(
      fc.oneof(fc.integer({ min: 1024, max: 11089 }), fc.integer({ min: 11200, max: 65535 })),
      {
        minLength: 2,
        maxLength: 2,
      },
    ),
    routerReplicas: fc.integer({ min: 1, max: 6 }),
    target: fc.constantFrom("docker", "eks"),
    seed: fc.nat(),
  })
  .chain((r) =>
    fc
      .shuffledSubarray(range(PORT_RANGES.mcp.min, PORT_RANGES.mcp.max), {
        minLength: r.services.length,
        maxLength: r.services.length,
      })
      .map((ports) => {
        const prod = rawStackConfig("prod");
        const [consul, monitor, stats] = r.infra as [number, number, number];
        const [gateway, grpc] = r.front as [number, number];
        return parseStackConfig({
          target: r.target,
          ...(r.target === "eks" ? { eks: prod.eks } : {}),
          ports: { gateway, grpc, consul, monitor, stats },
          router: { replicas: r.routerReplicas },
          services: r.services.map((s, i) => ({
            name: s.name,
            port: ports[i],
            replicas: s.replicas,
            toolSet: s.stdio
              ? {
                  kind: "stdio",
                  package: `@acme/server-${s.name}`,
                  version: "1.2.3",
                  bin: `server-${s.name}`,
                }
              : { kind: "builtin", name: "diagnostics" },
          })),
        });
      }),
  );

describe("topology", () => {
  test("for any valid config, published ports are unique and inside their ranges", () => {
    fc.assert(
      fc.property(anyConfig, (cfg) => {
        // GIVEN any valid config / WHEN the topology is derived
        const t = buildTopology(cfg);
        const hosts = [...t.publishedPorts, ...t.reservedPorts].map((p) => p.host);
        // THEN no host port repeats, and each is a front port or inside the plan
        expect(new Set(hosts).size).toBe(hosts.length);
        for (const p of t.publishedPorts) {
          const front = p.host === cfg.ports.gateway;
          const infra = p.host >= PORT_RANGES.infrastructure.min && p.host <= PORT_RANGES.infrastructure.max;
          const mcp = p.host >= PORT_RANGES.mcp.min && p.host <= PORT_RANGES.mcp.max;
          expect([p.component, front || infra || mcp]).toStrictEqual([p.component, true]);
        }
        // AND every MCP service listens on its own 111xx port
        const servicePorts = t.components.filter((c) => c.role === "mcp-service").map((c) => c.port);
        expect(new Set(servicePorts).size).toBe(cfg.services.length);
        expect(servicePorts.every((p) => p >= 11100 && p <= 11199)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  test("for any valid config, routers and MCP services join only mcp-internal", () => {
    fc.assert(
      fc.property(anyConfig, (cfg) => {
        const t = buildTopology(cfg);
        for (const c of t.components.filter((x) => x.role !== "infrastructure")) {
          expect([c.name, c.networks]).toStrictEqual([c.name, [NETWORK.internal]]);
          expect([c.name, c.hostPorts]).toStrictEqual([c.name, []]);
        }
      }),
      { numRuns: 200 },
    );
  });

  test("for any valid config, only haproxy, consul and network-monitor join both networks", () => {
    fc.assert(
      fc.property(anyConfig, (cfg) => {
        const t = buildTopology(cfg);
        const onBoth = t.components.filter((c) => c.networks.length === 2).map((c) => c.name);
        expect(onBoth.sort()).toStrictEqual(BOTH_NETWORKS);
        expect(t.networks).toStrictEqual([
          { name: "sutazai-network", internal: false },
          { name: "mcp-internal", internal: true, subnet: "172.20.0.0/24", ipRange: "172.20.0.128/25" },
        ]);
      }),
      { numRuns: 200 },
    );
  });

  test("the dev topology has the components, ports and memberships DESIGN lists", () => {
    // GIVEN the committed dev config / WHEN derived
    const t = buildTopology(stackConfig("dev"));
    // THEN components, replicas, networks and published ports are exactly these
    expect(
      t.components.map((c) => [c.name, c.replicas, c.networks, c.hostPorts.map((p) => p.host)]),
    ).toStrictEqual([
      ["consul", 1, ["sutazai-network", "mcp-internal"], [11090]],
      ["haproxy", 1, ["sutazai-network", "mcp-internal"], [3000, 11099, 11101, 11105, 11106, 11107]],
      ["router", 2, ["mcp-internal"], []],
      ["mcp-files", 2, ["mcp-internal"], []],
      ["mcp-memory", 1, ["mcp-internal"], []],
      ["mcp-everything", 2, ["mcp-internal"], []],
      ["mcp-echo", 2, ["mcp-internal"], []],
      ["network-monitor", 1, ["sutazai-network", "mcp-internal"], [11091]],
    ]);
    expect(t.reservedPorts.map((p) => p.host)).toStrictEqual([50051]);
    expect(t.catalog.map((c) => [c.id, c.component, c.port])).toStrictEqual([
      ["files", "mcp-files", 11101],
      ["memory", "mcp-memory", 11105],
      ["everything", "mcp-everything", 11106],
      ["echo", "mcp-echo", 11107],
    ]);
    expect(t.images).toStrictEqual([
      {
        service: "router",
        dockerfile: "services/Dockerfile",
        args: { SERVICE: "router", SERVICE_PORT: "3000" },
      },
      {
        service: "mcp-server",
        dockerfile: "services/Dockerfile",
        args: {
          SERVICE: "mcp-server",
          SERVICE_PORT: "8080",
          MCP_STDIO_PACKAGES:
            "@modelcontextprotocol/server-everything@2026.8.31 @modelcontextprotocol/server-filesystem@2026.8.31 @modelcontextprotocol/server-memory@2026.8.31",
        },
      },
      {
        service: "network-monitor",
        dockerfile: "services/Dockerfile",
        args: { SERVICE: "network-monitor", SERVICE_PORT: "11091" },
      },
    ]);
  });

  test("an MCP service's env follows the service contract", () => {
    // GIVEN the dev topology / WHEN reading mcp-files
    const files = buildTopology(stackConfig("dev")).components.find((c) => c.name === "mcp-files");
    // THEN its env is exactly the contract's variables
    expect(files?.env).toStrictEqual({
      HOST: "0.0.0.0",
      PORT: "11101",
      SERVICE_NAME: "mcp-files",
      CONSUL_HTTP_ADDR: "http://consul:8500",
      LOG_LEVEL: "info",
      MCP_ALLOWED_ORIGINS: "http://localhost:3000,http://127.0.0.1:3000",
      MCP_SERVER: '{"command":"mcp-server-filesystem","args":["/data"]}',
      MCP_BRIDGE_PROCESSES: "1",
    });
    expect(files?.volume).toStrictEqual({ mountPath: "/data", sizeGi: 1 });
  });

  test("MCP_SERVER is the standard mcpServers entry, and absent for built-in tools", () => {
    expect(mcpServerEnv({ kind: "builtin", name: "diagnostics" })).toBeUndefined();
    expect(
      mcpServerEnv({
        kind: "stdio",
        package: "@x/y",
        version: "1.0.0",
        bin: "y",
        args: ["a"],
        env: { K: "v" },
      }),
    ).toBe('{"command":"y","args":["a"],"env":{"K":"v"}}');
  });

  test("a bridged service's env and secretEnv names reach its stdio server through MCP_BRIDGE_ENV", () => {
    // GIVEN a stdio service with plain and secret variables, and a built-in one with a variable
    const raw = structuredClone(rawStackConfig("dev")) as Record<string, any>;
    raw.services[0].env = { ROOT_LABEL: "docs", ALLOW_WRITE: "1" };
    raw.services[0].secretEnv = { GITHUB_TOKEN: "githubToken", ALLOW_WRITE: "allowWrite" };
    const echo = raw.services.findIndex((s: { name: string }) => s.name === "echo");
    raw.services[echo].env = { GREETING: "hi" };
    const t = buildTopology(parseStackConfig(raw));
    const env = (name: string) => t.components.find((c) => c.name === name)?.env ?? {};
    // THEN the stdio service names them once, sorted; the built-in one needs no bridge
    expect(env("mcp-files").MCP_BRIDGE_ENV).toBe("ALLOW_WRITE,GITHUB_TOKEN,ROOT_LABEL");
    expect(env("mcp-echo").GREETING).toBe("hi");
    expect("MCP_BRIDGE_ENV" in env("mcp-echo")).toBe(false);
    // AND a stdio service without variables sets none
    expect("MCP_BRIDGE_ENV" in env("mcp-everything")).toBe(false);
  });

  test("HPA bounds exist only with EKS settings, with per-service overrides", () => {
    // GIVEN prod with an override on one service
    const raw = structuredClone(rawStackConfig("prod")) as Record<string, any>;
    raw.services[0].autoscaling = { maxReplicas: 4 };
    const t = buildTopology(parseStackConfig(raw));
    // THEN the override merges over the stack's defaults, the singleton has none, and dev none
    expect(t.components.find((c) => c.name === "mcp-files")?.autoscaling).toStrictEqual({
      minReplicas: 3,
      maxReplicas: 4,
      cpuPercent: 70,
      memoryPercent: 80,
    });
    expect(t.components.find((c) => c.name === "router")?.autoscaling).toStrictEqual({
      minReplicas: 3,
      maxReplicas: 10,
      cpuPercent: 70,
      memoryPercent: 80,
    });
    const memory = t.components.find((c) => c.name === "mcp-memory");
    expect([memory?.autoscaling, memory?.singleton, memory?.replicas]).toStrictEqual([undefined, true, 1]);
    expect(buildTopology(stackConfig("dev")).components.some((c) => c.autoscaling !== undefined)).toBe(false);
  });

  test("the router's stream cap follows its memory limit in prod, and is the service default in dev", () => {
    // GIVEN prod with the router's limit raised to 1Gi, and dev without limits
    const raw = structuredClone(rawStackConfig("prod")) as Record<string, any>;
    raw.eks.resources.router.limits.memory = "1Gi";
    const routerEnv = (config: StackConfig) =>
      buildTopology(config).components.find((c) => c.name === "router")?.env ?? {};
    // THEN (limit - 192 MiB) / 64 KiB streams, never below 100; dev sets none (the router's 5,000)
    const mi = 1024 * 1024;
    expect([512, 1024, 128].map((m) => routerMaxStreamsFor(m * mi))).toStrictEqual([5120, 13312, 100]);
    expect(routerEnv(parseStackConfig(raw)).ROUTER_MAX_STREAMS).toBe("13312");
    expect(routerEnv(stackConfig("prod")).ROUTER_MAX_STREAMS).toBe("5120");
    expect(routerEnv(stackConfig("dev")).ROUTER_MAX_STREAMS).toBeUndefined();
  });
});
