import { parseStackConfig, rawFromPulumiConfig } from "../../../infra/config";
import { TLS_POLICY } from "../../../infra/eks/front-door";
import { renderHaproxyConfig } from "../../../infra/haproxy";
import { buildTopology } from "../../../infra/topology";
import type { Recorded } from "../../helpers/pulumi-mocks";
import { kubernetesObject, MOCK_AWS, runProgram, settled, valueOf } from "../../helpers/pulumi-mocks";
import { stackConfigMap } from "../../helpers/stack-files";

// One program run per file: the prod stack with its optional settings on: TLS on the load
// balancer, public direct ports, a metrics scraper and an extra accepted host name.
const TLS = {
  certificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
  hostname: "mcp.example.com",
};
const LB = "service.beta.kubernetes.io/aws-load-balancer";

let resources: Recorded[];
let program: Record<string, unknown>;
let configMap: Record<string, string>;
const object = (kind: string, name: string) => kubernetesObject(resources, `kubernetes:${kind}`, name);

beforeAll(async () => {
  // GIVEN the prod config with a certificate and the direct ports public
  const config = stackConfigMap("prod");
  const eks = JSON.parse(config["mcp-platform:eks"] ?? "{}") as Record<string, unknown>;
  const withTls = { ...eks, tls: TLS, exposeServicePorts: true, metricsScraper: { namespace: "monitoring" } };
  configMap = {
    ...config,
    "mcp-platform:eks": JSON.stringify(withTls),
    "mcp-platform:allowedHosts": JSON.stringify(["mcp.internal-alias.example"]),
  };
  // WHEN the program runs under mocks
  ({ program, resources } = await runProgram("prod", configMap));
  await settled();
});

describe("prod stack with TLS, public direct ports and a metrics scraper (mocked)", () => {
  test("every NLB listener terminates TLS, and clients stick to one of the two HAProxy pods", () => {
    const nlb = object("core/v1:Service", "haproxy-public");
    const ports = [3000, 11101, 11105, 11106, 11107];
    expect(nlb.spec.ports.map((p: { port: number }) => p.port)).toStrictEqual(ports);
    expect(nlb.metadata.annotations).toStrictEqual({
      [`${LB}-type`]: "external",
      [`${LB}-nlb-target-type`]: "ip",
      [`${LB}-scheme`]: "internet-facing",
      [`${LB}-healthcheck-protocol`]: "http",
      [`${LB}-healthcheck-port`]: "11099",
      [`${LB}-healthcheck-path`]: "/healthz",
      [`${LB}-attributes`]: "load_balancing.cross_zone.enabled=true",
      [`${LB}-ssl-cert`]: TLS.certificateArn,
      [`${LB}-ssl-ports`]: ports.join(","),
      [`${LB}-ssl-negotiation-policy`]: TLS_POLICY,
      [`${LB}-target-group-attributes`]:
        "preserve_client_ip.enabled=true,stickiness.enabled=true,stickiness.type=source_ip",
    });
    expect(object("apps/v1:Deployment", "haproxy").spec.replicas).toBe(2);
    // AND HAProxy tells the router the scheme its clients used
    expect(object("core/v1:ConfigMap", "haproxy-config").data["haproxy.cfg"]).toBe(
      renderHaproxyConfig(
        buildTopology(parseStackConfig(rawFromPulumiConfig(configMap))),
        { kind: "kubernetes-dns" },
        { tlsTerminatedInFront: true, maxConnections: 5_957, threads: 1 },
      ),
    );
  });

  test("the router and the services accept the TLS host name, the NLB's and the configured ones, once", () => {
    const env = (name: string) =>
      object("apps/v1:Deployment", name).spec.template.spec.containers[0].env as { name: string }[];
    const allowed = (name: string) =>
      (env(name).find((e) => e.name === "MCP_ALLOWED_HOSTS") as { value?: string } | undefined)?.value;
    const expected = `${TLS.hostname},${MOCK_AWS.nlbHostname},mcp.internal-alias.example`;
    // the deploy-time value replaces the topology's: one MCP_ALLOWED_HOSTS per container
    expect(env("router").filter((e) => e.name === "MCP_ALLOWED_HOSTS")).toHaveLength(1);
    expect([allowed("router"), allowed("mcp-memory"), allowed("network-monitor")]).toStrictEqual([
      expected,
      expected,
      undefined,
    ]);
  });

  test("the scraper's namespace may reach each mcp-internal pod's metrics port", () => {
    const scraper = { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } };
    for (const name of ["router", "mcp-files", "mcp-memory", "mcp-everything", "mcp-echo"]) {
      const deployment = object("apps/v1:Deployment", name);
      const port = Number(deployment.spec.template.metadata.annotations["prometheus.io/port"]);
      const rules = object("networking.k8s.io/v1:NetworkPolicy", `allow-${name}-ingress`).spec.ingress;
      const admitting = rules.filter(
        (r: { from: unknown[]; ports: { port: number }[] }) =>
          r.from.some((f) => JSON.stringify(f) === JSON.stringify(scraper)) &&
          r.ports.some((p) => p.port === port),
      );
      expect(admitting).toHaveLength(1);
    }
  });

  test("exports https URLs on the TLS host name, and the NLB name to point it at", async () => {
    const url = `https://${TLS.hostname}:3000/mcp`;
    expect(await valueOf(program.gatewayUrl as string)).toBe(url);
    expect(JSON.parse(await valueOf(program.cursorConfig as string))).toStrictEqual({
      mcpServers: { "mcp-platform": { url } },
    });
    expect(await valueOf(program.serviceUrls as Record<string, string>)).toStrictEqual({
      files: `https://${TLS.hostname}:11101/mcp`,
      memory: `https://${TLS.hostname}:11105/mcp`,
      everything: `https://${TLS.hostname}:11106/mcp`,
      echo: `https://${TLS.hostname}:11107/mcp`,
    });
    expect(await valueOf(program.loadBalancerHostname as string)).toBe(MOCK_AWS.nlbHostname);
  });
});
