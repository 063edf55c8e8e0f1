import fc from "fast-check";
import { ZodError } from "zod";
import {
  nextIndex,
  parseCatalogServices,
  parseHealthEntries,
  worstStatus,
} from "../../../services/network-monitor/src/consul-catalog";
import {
  consulTarget,
  isMcpService,
  staticTarget,
  staticTargets,
} from "../../../services/network-monitor/src/targets";

describe("parseCatalogServices", () => {
  it("lists service names sorted, without Consul's own server entry", () => {
    expect(
      parseCatalogServices({ router: ["router"], consul: [], "mcp-files": ["mcp"], "mcp-a": null }),
    ).toStrictEqual(["mcp-a", "mcp-files", "router"]);
  });

  it("rejects an answer that is not a name → tags map", () => {
    // A validation error, not an accident such as a TypeError
    expect(() => parseCatalogServices(["router"])).toThrow(ZodError);
    expect(() => parseCatalogServices({ router: "x" })).toThrow(ZodError);
  });
});

describe("parseHealthEntries", () => {
  it("takes the service address (else the node's), the port and the worst check", () => {
    // GIVEN two instances on two nodes, one without a service address, one with a failing check
    const body = [
      {
        Node: { Node: "node-b", Address: "10.0.0.2", Datacenter: "dc1" },
        Service: { ID: "mcp-files-2", Service: "mcp-files", Address: "", Port: 11101, Tags: [] },
        Checks: [
          { Status: "passing", ServiceID: "" },
          { Status: "critical", ServiceID: "mcp-files-2" },
        ],
      },
      {
        Node: { Node: "node-a", Address: "10.0.0.1" },
        Service: { ID: "mcp-files-1", Service: "mcp-files", Address: "172.20.0.5", Port: 11101 },
        Checks: [{ Status: "passing" }, { Status: "warning" }],
      },
    ];

    // WHEN / THEN sorted by node, then id
    expect(parseHealthEntries("mcp-files", body)).toStrictEqual([
      {
        service: "mcp-files",
        id: "mcp-files-1",
        node: "node-a",
        address: "172.20.0.5",
        port: 11101,
        status: "warning",
      },
      {
        service: "mcp-files",
        id: "mcp-files-2",
        node: "node-b",
        address: "10.0.0.2",
        port: 11101,
        status: "critical",
      },
    ]);
  });

  it("skips an entry without a valid port and says so, keeping the other instances", () => {
    // GIVEN an answer with one instance registered without a port (Consul's 0) and one valid
    const body = [
      {
        Node: { Node: "n", Address: "a" },
        Service: { ID: "x", Service: "s", Address: "", Port: 0 },
        Checks: [],
      },
      {
        Node: { Node: "n", Address: "a" },
        Service: { ID: "y", Service: "s", Address: "", Port: 80 },
        Checks: [],
      },
    ];
    const skipped: [string, string][] = [];

    // WHEN it is parsed
    const instances = parseHealthEntries("s", body, (id, reason) => skipped.push([id, reason]));

    // THEN the valid instance stands and the other is reported
    expect(instances.map((i) => i.id)).toStrictEqual(["y"]);
    expect(skipped).toStrictEqual([["x", "✖ Too small: expected number to be >=1 → at Service.Port"]]);
  });

  it("rejects an answer that is not a list", () => {
    expect(() => parseHealthEntries("s", { error: "x" })).toThrow(ZodError);
  });
});

describe("worstStatus", () => {
  it.each([
    [[], "passing"],
    [["passing", "passing"], "passing"],
    [["passing", "warning"], "warning"],
    [["warning", "critical", "passing"], "critical"],
    [["maintenance"], "critical"],
  ] as const)("%j → %s", (statuses, expected) => {
    expect(worstStatus(statuses)).toStrictEqual(expected);
  });
});

describe("nextIndex (Consul blocking-query rules)", () => {
  it.each([
    [0, "42", 42],
    [42, "42", 42],
    [42, "43", 43],
    [42, "41", 0], // went backwards: start over
    [42, undefined, 0],
    [42, "abc", 0],
    [0, "0", 1], // never block on 0
  ])("previous %d, header %s → %d", (previous, header, expected) => {
    expect(nextIndex(previous, header)).toStrictEqual(expected);
  });

  it("never returns an index that would block forever or spin", () => {
    fc.assert(
      fc.property(fc.nat(), fc.option(fc.string(), { nil: undefined }), (previous, header) => {
        const next = nextIndex(previous, header);
        return Number.isSafeInteger(next) && next >= 0 && (next === 0 || next >= previous);
      }),
    );
  });
});

describe("targets", () => {
  it("gives catalog instances TCP, /health and, for MCP services, /mcp", () => {
    const instance = { node: "n1", address: "172.20.0.5", port: 11101, status: "passing" as const };
    expect(consulTarget({ ...instance, service: "mcp-files", id: "mcp-files-1" })).toStrictEqual({
      id: "consul:n1/mcp-files-1",
      service: "mcp-files",
      instance: "mcp-files-1",
      source: "consul",
      host: "172.20.0.5",
      port: 11101,
      endpoint: "172.20.0.5:11101",
      healthUrl: "http://172.20.0.5:11101/health",
      mcpUrl: "http://172.20.0.5:11101/mcp",
      consulStatus: "passing",
    });
    expect(
      consulTarget({ ...instance, address: "fd00::5", service: "network-monitor", id: "nm" }),
    ).toStrictEqual({
      id: "consul:n1/nm",
      service: "network-monitor",
      instance: "nm",
      source: "consul",
      host: "fd00::5",
      port: 11101,
      endpoint: "[fd00::5]:11101",
      healthUrl: "http://[fd00::5]:11101/health",
      consulStatus: "passing",
    });
  });

  it("probes MONITOR_TARGETS URLs as given, TCP targets by connect only, credentials never shown", () => {
    expect(staticTarget({ name: "haproxy", url: "http://user:pw@haproxy:11099/healthz?x=1" })).toStrictEqual({
      id: "static:haproxy",
      service: "haproxy",
      instance: "haproxy",
      source: "static",
      host: "haproxy",
      port: 11099,
      endpoint: "http://haproxy:11099/healthz",
      healthUrl: "http://user:pw@haproxy:11099/healthz?x=1",
    });
    expect(staticTarget({ name: "db", url: "tcp://[fd00::9]:5432" })).toStrictEqual({
      id: "static:db",
      service: "db",
      instance: "db",
      source: "static",
      host: "fd00::9",
      port: 5432,
      endpoint: "tcp://[fd00::9]:5432",
    });
    expect(staticTarget({ name: "router", url: "https://gw.example/health" })).toStrictEqual({
      id: "static:router",
      service: "router",
      instance: "router",
      source: "static",
      host: "gw.example",
      port: 443,
      endpoint: "https://gw.example/health",
      healthUrl: "https://gw.example/health",
      mcpUrl: "https://gw.example/mcp",
    });
  });

  it("probes a target listed as an instance of a service as that service, MCP probe included", () => {
    // GIVEN replicas listed one by one, as `npm run local` lists its routers and mcp-servers
    const router = staticTarget({
      name: "router-2",
      service: "router",
      url: "http://127.0.0.1:14002/health/ready",
    });
    const echo = staticTarget({ name: "mcp-echo-1", service: "mcp-echo", url: "tcp://127.0.0.1:15001" });
    const cache = staticTarget({ name: "cache-1", service: "cache", url: "http://cache:8080/health" });

    // THEN each is an instance of its service, and only HTTP targets of MCP services get /mcp
    expect(router).toStrictEqual({
      id: "static:router-2",
      service: "router",
      instance: "router-2",
      source: "static",
      host: "127.0.0.1",
      port: 14002,
      endpoint: "http://127.0.0.1:14002/health/ready",
      healthUrl: "http://127.0.0.1:14002/health/ready",
      mcpUrl: "http://127.0.0.1:14002/mcp",
    });
    expect([echo.service, echo.instance, echo.mcpUrl]).toStrictEqual(["mcp-echo", "mcp-echo-1", undefined]);
    expect([cache.service, cache.instance, cache.mcpUrl]).toStrictEqual(["cache", "cache-1", undefined]);
  });

  it("adds Consul itself when discovering from it, unless MONITOR_TARGETS names a consul", () => {
    expect(staticTargets([], "http://consul:8500").map((t) => [t.service, t.healthUrl])).toStrictEqual([
      ["consul", "http://consul:8500/v1/status/leader"],
    ]);
    const own = [{ name: "consul", url: "http://consul:8500/v1/status/leader?stale" }];
    expect(staticTargets(own, "http://consul:8500").map((t) => t.healthUrl)).toStrictEqual([
      "http://consul:8500/v1/status/leader?stale",
    ]);
    const replica = [{ name: "consul-1", service: "consul", url: "tcp://consul:8500" }];
    expect(staticTargets(replica, "http://consul:8500").map((t) => t.instance)).toStrictEqual(["consul-1"]);
    expect(staticTargets([], undefined)).toStrictEqual([]);
  });

  it.each([
    ["router", true],
    ["mcp-files", true],
    ["mcp", false],
    ["network-monitor", false],
    ["consul", false],
  ])("%s speaks MCP: %s", (name, expected) => {
    expect(isMcpService(name)).toStrictEqual(expected);
  });
});
