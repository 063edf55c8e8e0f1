import { allPolicies } from "../../policy/policies";
import type { Finding, Subject } from "../helpers/policy-harness";
import { K8S_VARIANTS } from "../helpers/k8s-policy-fixtures";
import { runPolicies } from "../helpers/policy-harness";
import { runProgram, valueOf } from "../helpers/pulumi-mocks";
import { stackConfigMap } from "../helpers/stack-files";

const CONTAINER = "docker:index/container:Container";
let shipped: Subject[];

beforeAll(async () => {
  // GIVEN the dev stack as the program declares it under mocks
  const { program, resources } = await runProgram("dev", stackConfigMap("dev"));
  await valueOf(program.containers as string[]);
  shipped = resources.map((r) => ({ type: r.type, name: r.name, props: r.inputs }));
});

/** The shipped resources with one container changed. */
function withContainer(name: string, change: (props: Record<string, any>) => void): Subject[] {
  const copy = structuredClone(shipped);
  const target = copy.find((s) => s.type === CONTAINER && s.props.name === name);
  if (!target) throw new Error(`no container ${name}`);
  change(target.props);
  return copy;
}

/** Broken variants: each defect and exactly what the pack reports for it. */
const DOCKER_VARIANTS: [string, () => Subject[], Finding[]][] = [
  [
    "an MCP service also attached to sutazai-network",
    () =>
      withContainer("mcp-files-1", (p) =>
        p.networksAdvanced.unshift({ name: "sutazai-network", aliases: ["mcp-files"] }),
      ),
    [
      {
        policy: "mcp-workloads-internal-only",
        resource: "mcp-files-1",
        message:
          'mcp-files-1: mcp-service container joins ["sutazai-network","mcp-internal"]; it may join only mcp-internal',
      },
      {
        policy: "dual-homed-infrastructure-only",
        resource: "mcp-files-1",
        message: "mcp-files-1: joins both networks, which only consul, haproxy, network-monitor may do",
      },
    ],
  ],
  [
    "a router on the public network only",
    () => withContainer("router-2", (p) => (p.networksAdvanced = [{ name: "sutazai-network" }])),
    [
      {
        policy: "mcp-workloads-internal-only",
        resource: "router-2",
        message: 'router-2: gateway container joins ["sutazai-network"]; it may join only mcp-internal',
      },
    ],
  ],
  [
    "mcp-internal that is not internal and on another subnet",
    () => {
      const copy = structuredClone(shipped);
      const net = copy.find(
        (s) => s.props.name === "mcp-internal" && s.type === "docker:index/network:Network",
      );
      net!.props.internal = false;
      net!.props.ipamConfigs = [{ subnet: "10.9.0.0/24" }];
      return copy;
    },
    [
      {
        policy: "mcp-internal-network-isolated",
        resource: "mcp-platform-networks-mcp-internal",
        message:
          "mcp-platform-networks-mcp-internal (mcp-internal): network mcp-internal must be internal: true",
      },
      {
        policy: "mcp-internal-network-isolated",
        resource: "mcp-platform-networks-mcp-internal",
        message:
          'mcp-platform-networks-mcp-internal (mcp-internal): network mcp-internal must use subnet 172.20.0.0/24, not ["10.9.0.0/24"]',
      },
    ],
  ],
  [
    "a published port of 11250",
    () =>
      withContainer("haproxy", (p) => p.ports.push({ internal: 11250, external: 11250, ip: "127.0.0.1" })),
    [
      {
        policy: "published-ports-in-plan",
        resource: "haproxy",
        message: "haproxy: publishes host port 11250, outside 11090–11099, 11100–11199 or 3000/50051",
      },
    ],
  ],
  [
    "an MCP service listening on 11250",
    () =>
      withContainer(
        "mcp-echo-1",
        (p) => (p.envs = p.envs.map((e: string) => (e === "PORT=11107" ? "PORT=11250" : e))),
      ),
    [
      {
        policy: "mcp-service-ports-in-range",
        resource: "mcp-echo-1",
        message: "mcp-echo-1: MCP service listens on 11250, outside 11100–11199",
      },
    ],
  ],
  [
    "two containers publishing one host port, and two services on one port",
    () => {
      const copy = withContainer("network-monitor", (p) => (p.ports[0].external = 11090));
      const echo = copy.find((s) => s.props.name === "mcp-echo-1");
      echo!.props.envs = echo!.props.envs.map((e: string) => (e === "PORT=11107" ? "PORT=11101" : e));
      return copy;
    },
    [
      {
        policy: "no-port-collisions",
        resource: "(stack)",
        message:
          "host port 127.0.0.1:11090/tcp is published by more than one container: consul, network-monitor",
      },
      {
        policy: "no-port-collisions",
        resource: "(stack)",
        message: "MCP port 11101 is used by more than one service: mcp-echo, mcp-files",
      },
    ],
  ],
  [
    "a :latest image",
    () => withContainer("consul", (p) => (p.image = "hashicorp/consul:latest")),
    [
      {
        policy: "pinned-images",
        resource: "consul",
        message: "consul: image hashicorp/consul:latest is not pinned to a digest or a non-latest tag",
      },
    ],
  ],
  [
    "a container that keeps its capabilities and runs as root",
    () =>
      withContainer("router-1", (p) => {
        delete p.capabilities;
        p.user = "root";
      }),
    [
      {
        policy: "hardened-containers",
        resource: "router-1",
        message: "router-1: does not drop ALL capabilities",
      },
      { policy: "hardened-containers", resource: "router-1", message: "router-1: runs as root" },
    ],
  ],
  [
    "a container without a health check",
    () => withContainer("mcp-memory-1", (p) => delete p.healthcheck),
    [{ policy: "probes-set", resource: "mcp-memory-1", message: "mcp-memory-1: has no health check" }],
  ],
  [
    "a container without a restart policy",
    () => withContainer("haproxy", (p) => delete p.restart),
    [
      {
        policy: "restart-policy-set",
        resource: "haproxy",
        message: 'haproxy: restart policy "no" is not one of always, unless-stopped, on-failure',
      },
    ],
  ],
  [
    "a container on the host network",
    () => withContainer("network-monitor", (p) => (p.networkMode = "host")),
    [
      {
        policy: "no-host-networking",
        resource: "network-monitor",
        message: "network-monitor: uses the host network",
      },
    ],
  ],
  [
    "a router publishing a host port",
    () =>
      withContainer("router-1", (p) => {
        p.ports = [{ internal: 3000, external: 11098, ip: "127.0.0.1", protocol: "tcp" }];
      }),
    [
      {
        policy: "published-ports-in-plan",
        resource: "router-1",
        message: "router-1: publishes ports, which only consul, haproxy, network-monitor may do",
      },
    ],
  ],
  [
    "an MCP service port without an external port",
    () => withContainer("mcp-files-1", (p) => (p.ports = [{ internal: 11101 }])),
    [
      {
        policy: "published-ports-in-plan",
        resource: "mcp-files-1",
        message: "mcp-files-1: publishes ports, which only consul, haproxy, network-monitor may do",
      },
      {
        policy: "published-ports-in-plan",
        resource: "mcp-files-1",
        message:
          "mcp-files-1: container port 11101 has no external port, so Docker publishes it on a random host port",
      },
    ],
  ],
  [
    "a port of haproxy's without an external port",
    () => withContainer("haproxy", (p) => p.ports.push({ internal: 8404, protocol: "tcp" })),
    [
      {
        policy: "published-ports-in-plan",
        resource: "haproxy",
        message:
          "haproxy: container port 8404 has no external port, so Docker publishes it on a random host port",
      },
    ],
  ],
  [
    "a host port on 0.0.0.0 that another container publishes on 127.0.0.1",
    () =>
      withContainer(
        "network-monitor",
        (p) => (p.ports[0] = { ...p.ports[0], external: 11090, ip: "0.0.0.0" }),
      ),
    [
      {
        policy: "no-port-collisions",
        resource: "(stack)",
        message:
          "host port 11090/tcp is published on every address and again: consul (127.0.0.1), network-monitor (0.0.0.0)",
      },
    ],
  ],
];

describe("policy pack over the dev stack", () => {
  test("finds no violation on the dev stack as shipped", async () => {
    expect(await runPolicies(allPolicies(), shipped)).toStrictEqual([]);
  });

  test.each(DOCKER_VARIANTS)(
    "reports %s, naming the resource and the rule",
    async (_name, variant, expected) => {
      // GIVEN the dev stack with one defect / WHEN the pack runs / THEN exactly that is reported
      expect(await runPolicies(allPolicies(), variant())).toStrictEqual(expected);
    },
  );

  test("a stack can widen the port plan with --policy-pack-config", async () => {
    // GIVEN a stack that publishes 8080 and declares it as a front port
    const variant = withContainer("haproxy", (p) =>
      p.ports.push({ internal: 8080, external: 8080, ip: "127.0.0.1" }),
    );
    // WHEN the pack runs with that config / THEN nothing is reported
    const config = { "published-ports-in-plan": { frontPorts: [3000, 50051, 8080] } };
    expect(await runPolicies(allPolicies(), variant, config)).toStrictEqual([]);
  });

  test("one host port published for TCP and UDP is no collision", async () => {
    // GIVEN the monitor publishing consul's host port, but for UDP
    const variant = withContainer(
      "network-monitor",
      (p) => (p.ports[0] = { ...p.ports[0], external: 11090, protocol: "udp" }),
    );
    // WHEN the pack runs / THEN nothing is reported
    expect(await runPolicies(allPolicies(), variant)).toStrictEqual([]);
  });

  test("every policy of the pack fires on some broken variant, across Docker and Kubernetes", async () => {
    // GIVEN every Docker variant here and every Kubernetes variant / WHEN the pack runs over each
    const fired = new Set<string>();
    for (const [, make] of [...DOCKER_VARIANTS, ...K8S_VARIANTS]) {
      for (const f of await runPolicies(allPolicies(), make())) fired.add(f.policy);
    }
    // THEN each policy reported at least once
    expect([...fired].sort()).toStrictEqual(
      allPolicies()
        .map((p) => p.name)
        .sort(),
    );
  });
});
