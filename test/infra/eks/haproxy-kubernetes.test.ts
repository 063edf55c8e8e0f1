import { renderHaproxyConfig, ROUTER_RETRIES } from "../../../infra/haproxy";
import { buildTopology } from "../../../infra/topology";
import { configWithServices } from "../../helpers/configs";
import { haproxyCheck, sectionLines } from "../../helpers/haproxy";
import { stackConfig } from "../../helpers/stack-files";

const kube = { kind: "kubernetes-dns" } as const;

describe("haproxy.cfg for the prod stack (Kubernetes DNS backends)", () => {
  const prod = buildTopology(stackConfig("prod"));

  test("the prod config passes real haproxy -c without warnings", () => {
    // GIVEN the prod topology / WHEN rendered with Kubernetes DNS backends
    const check = haproxyCheck(renderHaproxyConfig(prod, kube));
    // THEN haproxy accepts it as is
    expect(check.output).toContain("Configuration file is valid");
    expect(check.output).not.toContain("WARNING");
    expect(check.status).toBe(0);
  });

  test("backends resolve the headless Services through the pod's resolv.conf", () => {
    const cfg = renderHaproxyConfig(prod, kube);
    expect(sectionLines(cfg, "resolvers kube")).toStrictEqual([
      "parse-resolv-conf",
      "accepted_payload_size 8192",
      "resolve_retries 3",
      "timeout resolve 1s",
      "timeout retry 1s",
      "hold valid 5s",
      "hold obsolete 10s",
    ]);
    expect(sectionLines(cfg, "backend router")).toStrictEqual([
      "balance roundrobin",
      ...ROUTER_RETRIES,
      "option httpchk",
      "http-check send meth GET uri /health/ready",
      "http-check expect status 200",
      "server-template router- 10 router.mcp-internal.svc.cluster.local:3000 resolvers kube resolve-prefer ipv4 init-addr none check",
    ]);
    expect(sectionLines(cfg, "backend mcp-memory").at(-1)).toBe(
      "server-template mcp-memory- 10 mcp-memory.mcp-internal.svc.cluster.local:11105 resolvers kube resolve-prefer ipv4 init-addr none check",
    );
    // AND nothing of Consul DNS is left in it
    expect(cfg).not.toContain("resolvers consul");
    expect(cfg).not.toContain("service.consul");
  });

  test("the frontends are the dev ones: gateway, stats and one per service port", () => {
    const cfg = renderHaproxyConfig(prod, kube);
    expect(sectionLines(cfg, "frontend gateway")[0]).toBe("bind *:3000");
    expect(sectionLines(cfg, "frontend stats").slice(0, 2)).toStrictEqual([
      "bind *:11099",
      "monitor-uri /healthz",
    ]);
    expect(prod.catalog.map((c) => sectionLines(cfg, `frontend ${c.component}`)[0])).toStrictEqual([
      "bind *:11101",
      "bind *:11105",
      "bind *:11106",
      "bind *:11107",
    ]);
  });

  test("behind a TLS-terminating load balancer every client frontend says X-Forwarded-Proto: https", () => {
    // GIVEN the prod topology / WHEN rendered for a load balancer that terminates TLS
    const cfg = renderHaproxyConfig(prod, kube, { tlsTerminatedInFront: true });
    const header = "http-request set-header X-Forwarded-Proto https";
    // THEN haproxy accepts it, the gateway and each direct port set the header, stats does not
    const check = haproxyCheck(cfg);
    expect([check.status, check.output.includes("WARNING")]).toStrictEqual([0, false]);
    const frontends = ["gateway", ...prod.catalog.map((c) => c.component)];
    expect(frontends.map((f) => sectionLines(cfg, `frontend ${f}`).includes(header))).toStrictEqual(
      frontends.map(() => true),
    );
    expect(sectionLines(cfg, "frontend stats")).not.toContain(header);
    // AND without it no frontend claims https
    expect(renderHaproxyConfig(prod, kube)).not.toContain("X-Forwarded-Proto");
  });

  test("a 12-service prod config passes real haproxy -c", () => {
    const topology = buildTopology(configWithServices(12, "eks"));
    const check = haproxyCheck(renderHaproxyConfig(topology, kube));
    expect([check.status, check.output.includes("WARNING")]).toStrictEqual([0, false]);
  });

  test("a broken prod render is caught by haproxy -c", () => {
    const broken = renderHaproxyConfig(prod, kube).replace(
      "resolvers kube resolve-prefer",
      "resolvers nosuch resolve-prefer",
    );
    expect(haproxyCheck(broken).status).not.toBe(0);
  });
});
