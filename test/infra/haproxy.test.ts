import {
  DEFAULT_MAX_CONNECTIONS,
  maxConnectionsFor,
  renderHaproxyConfig,
  ROUTER_RETRIES,
  threadsFor,
} from "../../infra/haproxy";
import { buildTopology, CONSUL_INTERNAL_IP } from "../../infra/topology";
import type { Topology } from "../../infra/topology";
import { configWithServices } from "../helpers/configs";
import { haproxyCheck, sectionLines } from "../helpers/haproxy";
import { stackConfig } from "../helpers/stack-files";

const consulDns = { kind: "consul-dns", nameserver: `${CONSUL_INTERNAL_IP}:8600` } as const;

/** Static servers for every backend: `replicas` loopback addresses per component. */
function staticServers(topology: Topology): Record<string, string[]> {
  let next = 40000;
  return Object.fromEntries(
    topology.components
      .filter((c) => c.name === "router" || c.role === "mcp-service")
      .map((c) => [c.name, Array.from({ length: c.replicas }, () => `127.0.0.1:${next++}`)]),
  );
}

describe("haproxy.cfg renderer", () => {
  const dev = buildTopology(stackConfig("dev"));

  test("the dev stack's Consul-DNS config passes real haproxy -c", () => {
    // GIVEN the dev topology / WHEN rendered with Consul DNS backends
    const cfg = renderHaproxyConfig(dev, consulDns);
    // THEN haproxy accepts it
    const check = haproxyCheck(cfg);
    expect(check.output).toContain("Configuration file is valid");
    expect(check.output).not.toContain("WARNING");
    expect(check.status).toBe(0);
  });

  test("the static-servers variant for local runs passes real haproxy -c", () => {
    // GIVEN the dev topology and loopback servers / WHEN rendered bound to loopback
    const cfg = renderHaproxyConfig(
      dev,
      { kind: "static", servers: staticServers(dev) },
      { bindAddress: "127.0.0.1" },
    );
    // THEN haproxy accepts it without warnings, and each replica is a checked server
    const check = haproxyCheck(cfg);
    expect(check.output).not.toContain("WARNING");
    expect(check.status).toBe(0);
    expect(sectionLines(cfg, "backend router")).toStrictEqual([
      "balance roundrobin",
      ...ROUTER_RETRIES,
      "option httpchk",
      "http-check send meth GET uri /health/ready",
      "http-check expect status 200",
      "server router-1 127.0.0.1:40000 check",
      "server router-2 127.0.0.1:40001 check",
    ]);
    expect(sectionLines(cfg, "frontend gateway")[0]).toBe("bind 127.0.0.1:3000");
  });

  test("a 12-service config passes real haproxy -c with one frontend per service port", () => {
    // GIVEN twelve services / WHEN rendered
    const topology = buildTopology(configWithServices(12));
    const cfg = renderHaproxyConfig(topology, consulDns);
    // THEN haproxy accepts it, and every service has its frontend on its own port
    expect(haproxyCheck(cfg).status).toBe(0);
    const binds = topology.catalog.map((c) => sectionLines(cfg, `frontend ${c.component}`)[0]);
    expect(binds).toStrictEqual(Array.from({ length: 12 }, (_, i) => `bind *:${11100 + i}`));
    expect(
      haproxyCheck(renderHaproxyConfig(topology, { kind: "static", servers: staticServers(topology) }))
        .status,
    ).toBe(0);
  });

  test("the gateway routes to routers found in Consul, with long stream timeouts", () => {
    // GIVEN the dev topology / WHEN rendered with Consul DNS
    const cfg = renderHaproxyConfig(dev, consulDns);
    // THEN the router backend is a checked server-template over Consul SRV records
    expect(sectionLines(cfg, "backend router")).toStrictEqual([
      "balance roundrobin",
      ...ROUTER_RETRIES,
      "option httpchk",
      "http-check send meth GET uri /health/ready",
      "http-check expect status 200",
      "server-template router- 10 _router._tcp.service.consul resolvers consul resolve-prefer ipv4 init-addr none check",
    ]);
    expect(sectionLines(cfg, "resolvers consul")[0]).toBe("nameserver consul 172.20.0.2:8600");
    const defaults = sectionLines(cfg, "defaults");
    expect(defaults).toEqual(
      expect.arrayContaining(["timeout server 3600s", "timeout tunnel 3600s", "timeout client 3600s"]),
    );
    expect(sectionLines(cfg, "frontend stats")).toStrictEqual([
      "bind *:11099",
      "monitor-uri /healthz",
      "# Prometheus metrics of every frontend, backend and server (HAProxy's built-in exporter).",
      "http-request use-service prometheus-exporter if { path /metrics }",
      "stats enable",
      "stats uri /",
      "stats refresh 10s",
      "stats show-legends",
    ]);
    expect(sectionLines(cfg, "backend mcp-files")).toContain(
      "server-template mcp-files- 10 _mcp-files._tcp.service.consul resolvers consul resolve-prefer ipv4 init-addr none check",
    );
  });

  test("maxconn fits a memory limit with every connection at its worst, and stays 20000 without one", () => {
    // GIVEN memory limits / WHEN the connection limit is derived
    const mi = 1024 * 1024;
    // THEN (limit - 64 MiB) / 33 KiB, never below 256; the dev render keeps the default
    expect([256, 512, 1024, 64].map((m) => maxConnectionsFor(m * mi))).toStrictEqual([
      5957, 13901, 29789, 256,
    ]);
    expect(sectionLines(renderHaproxyConfig(dev, consulDns), "global")).toContain(
      `maxconn ${DEFAULT_MAX_CONNECTIONS}`,
    );
    expect(DEFAULT_MAX_CONNECTIONS).toBe(20_000);
  });

  test("nbthread is one per whole core of a CPU limit, at least one, and left to HAProxy without one", () => {
    // GIVEN CPU limits in millicores / WHEN the thread count is derived
    // THEN whole cores only (a fraction would be throttled), never below one
    expect([250, 1000, 1500, 2000, 4000].map(threadsFor)).toStrictEqual([1, 1, 1, 2, 4]);
    // AND the option renders into global, the check accepts it, and without it there is no nbthread
    const cfg = renderHaproxyConfig(dev, consulDns, { threads: 2 });
    expect(sectionLines(cfg, "global")).toContain("nbthread 2");
    expect(haproxyCheck(cfg).status).toBe(0);
    expect(renderHaproxyConfig(dev, consulDns)).not.toContain("nbthread");
  });

  test("the rendered dev config is stable", () => {
    // GIVEN the dev topology / WHEN rendered / THEN it matches the reviewed file
    expect(renderHaproxyConfig(dev, consulDns)).toMatchSnapshot();
  });

  test("a broken render is caught by haproxy -c, so the check can fail", () => {
    // GIVEN a config with an unknown keyword / WHEN checked / THEN haproxy rejects it
    const broken = renderHaproxyConfig(dev, consulDns).replace("balance roundrobin", "balance nosuchalgo");
    expect(haproxyCheck(broken).status).not.toBe(0);
  });

  test("static backends must name servers for every backend", () => {
    // GIVEN static servers without the router / WHEN rendered / THEN it fails naming it
    expect(() => renderHaproxyConfig(dev, { kind: "static", servers: {} })).toThrow(
      'static backends name no servers for "router"',
    );
    expect(() =>
      renderHaproxyConfig(dev, {
        kind: "static",
        servers: { ...staticServers(dev), router: ["not an address"] },
      }),
    ).toThrow('static server "not an address" of "router" is not host:port');
  });
});
