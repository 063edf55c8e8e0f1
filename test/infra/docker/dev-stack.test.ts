import { renderHaproxyConfig } from "../../../infra/haproxy";
import { buildTopology, CONSUL_INTERNAL_IP } from "../../../infra/topology";
import { haproxyCheck } from "../../helpers/haproxy";
import type { Recorded } from "../../helpers/pulumi-mocks";
import { ofType, runProgram, secretValue, valueOf } from "../../helpers/pulumi-mocks";
import { stackConfig, stackConfigMap } from "../../helpers/stack-files";

const CONTAINER = "docker:index/container:Container";
const NAMES = [
  "consul",
  "haproxy",
  "router-1",
  "router-2",
  "mcp-files-1",
  "mcp-files-2",
  "mcp-memory-1",
  "mcp-everything-1",
  "mcp-everything-2",
  "mcp-echo-1",
  "mcp-echo-2",
  "network-monitor",
];

let resources: Recorded[];
let program: Record<string, unknown>;
const byName = (name: string): Record<string, any> => {
  const found = ofType(resources, CONTAINER).find((r) => r.inputs.name === name);
  if (!found) throw new Error(`no container ${name}`);
  return found.inputs;
};

beforeAll(async () => {
  // GIVEN the committed dev stack config / WHEN the real program runs under mocks
  ({ program, resources } = await runProgram("dev", stackConfigMap("dev")));
  await valueOf(program.containers as string[]);
});

describe("dev stack on Docker (mocked)", () => {
  test("creates the two networks with explicit names, mcp-internal internal on 172.20.0.0/24, and first", () => {
    const networks = ofType(resources, "docker:index/network:Network");
    expect(
      networks.map((n) => [n.inputs.name, n.inputs.internal, n.inputs.ipamConfigs, n.deleteBeforeReplace]),
    ).toStrictEqual([
      // containers without a fixed address get one from the upper half, never Consul's 172.20.0.2
      ["mcp-internal", true, [{ subnet: "172.20.0.0/24", ipRange: "172.20.0.128/25" }], true],
      ["sutazai-network", false, undefined, true],
    ]);
    // AND sutazai-network (subnet from Docker's pool) waits for mcp-internal's fixed subnet
    const [internal, external] = networks;
    expect(external?.dependencies.some((urn) => urn.endsWith(`::${internal?.name}`))).toBe(true);
    expect(internal?.dependencies).toStrictEqual([]);
  });

  test("runs exactly the containers DESIGN lists", async () => {
    // Registration order is the engine's; the set of names is the contract.
    expect(
      ofType(resources, CONTAINER)
        .map((c) => c.inputs.name)
        .sort(),
    ).toStrictEqual([...NAMES].sort());
    expect(await valueOf(program.containers as string[])).toStrictEqual(NAMES);
  });

  test("puts each container on exactly its networks", () => {
    const both = ["sutazai-network", "mcp-internal"];
    const expected = Object.fromEntries(
      NAMES.map((n) => [n, ["consul", "haproxy", "network-monitor"].includes(n) ? both : ["mcp-internal"]]),
    );
    const actual = Object.fromEntries(
      NAMES.map((n) => [n, byName(n).networksAdvanced.map((a: any) => a.name)]),
    );
    expect(actual).toStrictEqual(expected);
    expect(byName("consul").networksAdvanced[1]).toStrictEqual({
      name: "mcp-internal",
      aliases: ["consul"],
      ipv4Address: CONSUL_INTERNAL_IP,
    });
    expect(byName("router-2").networksAdvanced).toStrictEqual([
      { name: "mcp-internal", aliases: ["router"] },
    ]);
  });

  test("publishes only the port table's host ports, on loopback", () => {
    const published = Object.fromEntries(
      NAMES.map((n) => [n, (byName(n).ports ?? []).map((p: any) => `${p.ip}:${p.external}->${p.internal}`)]),
    );
    expect(published).toStrictEqual({
      ...Object.fromEntries(NAMES.map((n) => [n, []])),
      consul: ["127.0.0.1:11090->8500"],
      haproxy: [
        "127.0.0.1:3000->3000",
        "127.0.0.1:11099->11099",
        "127.0.0.1:11101->11101",
        "127.0.0.1:11105->11105",
        "127.0.0.1:11106->11106",
        "127.0.0.1:11107->11107",
      ],
      "network-monitor": ["127.0.0.1:11091->11091"],
    });
  });

  test("builds the three images from this repo's Dockerfile without pushing, and feeds containers the digest", () => {
    const order = ["router", "mcp-server", "network-monitor"];
    const images = ofType(resources, "docker:index/image:Image").sort(
      (a, b) =>
        order.indexOf(a.name.replace("mcp-platform-images-", "")) -
        order.indexOf(b.name.replace("mcp-platform-images-", "")),
    );
    expect(
      images.map((i) => [i.name, i.inputs.imageName, i.inputs.build.dockerfile, i.inputs.skipPush]),
    ).toStrictEqual([
      ["mcp-platform-images-router", "mcp-platform/router:dev", "services/Dockerfile", true],
      ["mcp-platform-images-mcp-server", "mcp-platform/mcp-server:dev", "services/Dockerfile", true],
      [
        "mcp-platform-images-network-monitor",
        "mcp-platform/network-monitor:dev",
        "services/Dockerfile",
        true,
      ],
    ]);
    expect(images.every((i) => i.inputs.build.context === process.cwd())).toBe(true);
    expect(images.map((i) => i.inputs.build.args.SERVICE)).toStrictEqual(order);
    expect(images[1]?.inputs.build.args).toStrictEqual({
      SERVICE: "mcp-server",
      SERVICE_PORT: "8080",
      MCP_STDIO_PACKAGES:
        "@modelcontextprotocol/server-everything@2026.8.31 @modelcontextprotocol/server-filesystem@2026.8.31 @modelcontextprotocol/server-memory@2026.8.31",
    });
    expect(Object.fromEntries(NAMES.map((n) => [n, byName(n).image]))).toStrictEqual({
      consul: "sha256:pulled-hashicorp/consul:1.20.5",
      haproxy: "sha256:pulled-haproxy:3.0.11-alpine",
      "router-1": "sha256:built-mcp-platform-images-router",
      "router-2": "sha256:built-mcp-platform-images-router",
      ...Object.fromEntries(
        NAMES.filter((n) => n.startsWith("mcp-")).map((n) => [
          n,
          "sha256:built-mcp-platform-images-mcp-server",
        ]),
      ),
      "network-monitor": "sha256:built-mcp-platform-images-network-monitor",
    });
  });

  test("uploads the generated HAProxy config, which passes real haproxy -c", () => {
    const expected = renderHaproxyConfig(buildTopology(stackConfig("dev")), {
      kind: "consul-dns",
      nameserver: `${CONSUL_INTERNAL_IP}:8600`,
    });
    expect(byName("haproxy").uploads).toStrictEqual([
      { file: "/usr/local/etc/haproxy/haproxy.cfg", content: expected },
    ]);
    expect(haproxyCheck(expected).status).toBe(0);
  });

  test("gives every service the contract's environment", () => {
    // The router's env carries its session key, so the whole list is a secret.
    expect(secretValue(byName("router-1").envs)).toStrictEqual([
      "HOST=0.0.0.0",
      "PORT=3000",
      "SERVICE_NAME=router",
      "CONSUL_HTTP_ADDR=http://consul:8500",
      "LOG_LEVEL=info",
      "MCP_ALLOWED_ORIGINS=http://localhost:3000,http://127.0.0.1:3000",
      "ROUTER_SESSION_KEY=generated-router-routerSessionKey",
    ]);
    expect(byName("mcp-memory-1").envs).toStrictEqual([
      "HOST=0.0.0.0",
      "PORT=11105",
      "SERVICE_NAME=mcp-memory",
      "CONSUL_HTTP_ADDR=http://consul:8500",
      "LOG_LEVEL=info",
      "MCP_ALLOWED_ORIGINS=http://localhost:3000,http://127.0.0.1:3000",
      'MCP_SERVER={"command":"mcp-server-memory","args":[]}',
      "MCP_BRIDGE_PROCESSES=1",
      "MCP_BRIDGE_CONCURRENCY=1",
      "MCP_BRIDGE_ENV=MEMORY_FILE_PATH",
      "MEMORY_FILE_PATH=/data/memory.jsonl",
    ]);
    expect(byName("mcp-echo-2").envs).toContain("PORT=11107");
    expect(byName("mcp-echo-2").envs.some((e: string) => e.startsWith("MCP_SERVER="))).toBe(false);
    expect(byName("network-monitor").envs).toStrictEqual([
      "HOST=0.0.0.0",
      "PORT=11091",
      "SERVICE_NAME=network-monitor",
      "CONSUL_HTTP_ADDR=http://consul:8500",
      "LOG_LEVEL=info",
      'MONITOR_TARGETS=[{"name":"consul","url":"http://consul:8500/v1/status/leader"},{"name":"haproxy","url":"http://haproxy:11099/healthz"}]',
      "MONITOR_INTERVAL_MS=10000",
      "MONITOR_RETENTION_MINUTES=60",
    ]);
    expect(byName("consul").command).toStrictEqual([
      "agent",
      "-dev",
      "-ui",
      "-client=0.0.0.0",
      "-bind=172.20.0.2",
      "-dns-port=8600",
    ]);
  });

  test("every container has a health check, a restart policy, hardening and delete-before-replace", () => {
    const containers = ofType(resources, CONTAINER);
    // Each has an explicit, stable name (what `docker ps` shows and the health checks name)
    expect(containers.map((c) => c.inputs.name).sort()).toStrictEqual([
      "consul",
      "haproxy",
      "mcp-echo-1",
      "mcp-echo-2",
      "mcp-everything-1",
      "mcp-everything-2",
      "mcp-files-1",
      "mcp-files-2",
      "mcp-memory-1",
      "network-monitor",
      "router-1",
      "router-2",
    ]);
    for (const c of containers) {
      expect([c.inputs.restart, c.deleteBeforeReplace, c.parent !== ""]).toStrictEqual([
        "unless-stopped",
        true,
        true,
      ]);
      expect(c.inputs.healthcheck.tests[0]).toBe("CMD");
      expect(c.inputs.capabilities.drops).toStrictEqual(["ALL"]);
    }
    // Only Consul gets some back: its root init chowns, drops to the consul user, and must be
    // allowed to signal that user's process on stop (KILL)
    expect(
      containers
        .filter((c) => c.inputs.capabilities.adds !== undefined)
        .map((c) => [c.inputs.name, c.inputs.capabilities.adds]),
    ).toStrictEqual([["consul", ["CHOWN", "KILL", "SETGID", "SETUID"]]]);
    expect(byName("router-1").healthcheck.tests).toStrictEqual([
      "CMD",
      "node",
      "-e",
      "fetch('http://127.0.0.1:3000/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))",
    ]);
    expect(byName("haproxy").healthcheck.tests).toStrictEqual([
      "CMD",
      "wget",
      "-q",
      "-O",
      "/dev/null",
      "http://127.0.0.1:11099/healthz",
    ]);
    expect(byName("mcp-files-1").readOnly).toBe(true);
    expect(byName("mcp-files-1").volumes).toStrictEqual([
      { volumeName: "mcp-files-data", containerPath: "/data" },
    ]);
  });

  test("containers stop gracefully on replacement and destroy too, and our images reap orphans", () => {
    // GIVEN every container / THEN Pulumi's delete stops it with its signal and waits as long as
    // `docker stop` would (without destroyGraceSeconds the provider force-removes: a SIGKILL)
    const stops = Object.fromEntries(
      ofType(resources, CONTAINER).map((c) => [
        c.inputs.name,
        [c.inputs.stopSignal, c.inputs.stopTimeout, c.inputs.destroyGraceSeconds, c.inputs.init],
      ]),
    );
    // our services drain on SIGTERM, under Docker's init (Node does not reap the orphans of
    // bridged stdio servers); HAProxy stops softly on SIGUSR1 within its hard-stop-after
    expect(stops["router-1"]).toStrictEqual(["SIGTERM", 30, 30, true]);
    expect(stops["mcp-memory-1"]).toStrictEqual(["SIGTERM", 30, 30, true]);
    expect(stops["network-monitor"]).toStrictEqual(["SIGTERM", 30, 30, true]);
    expect(stops.haproxy).toStrictEqual(["SIGUSR1", 35, 35, false]);
    expect(stops.consul).toStrictEqual(["SIGTERM", 30, 30, false]);
    expect(byName("haproxy").uploads[0].content).toContain("\n    hard-stop-after 30s\n");
  });

  test("the services' data volumes outlive the stack", () => {
    // GIVEN the volumes / THEN destroy (or a replacement) leaves them, to be taken up again by name
    const volumes = ofType(resources, "docker:index/volume:Volume");
    expect(volumes.map((v) => [v.inputs.name, v.retainOnDelete])).toStrictEqual([
      ["mcp-files-data", true],
      ["mcp-memory-data", true],
    ]);
  });

  test("exports the gateway URL and ready-to-paste client settings", async () => {
    expect(await valueOf(program.gatewayUrl as string)).toBe("http://127.0.0.1:3000/mcp");
    expect(JSON.parse(await valueOf(program.cursorConfig as string))).toStrictEqual({
      mcpServers: { "mcp-platform": { url: "http://127.0.0.1:3000/mcp" } },
    });
    expect(await valueOf(program.claudeCodeCommand as string)).toBe(
      "claude mcp add --transport http mcp-platform http://127.0.0.1:3000/mcp",
    );
    expect(await valueOf(program.serviceUrls as Record<string, string>)).toStrictEqual({
      files: "http://127.0.0.1:11101/mcp",
      memory: "http://127.0.0.1:11105/mcp",
      everything: "http://127.0.0.1:11106/mcp",
      echo: "http://127.0.0.1:11107/mcp",
    });
  });
});
