import { buildTopology, clusterHost, component, namespaceOf, peerHost } from "../../../infra/topology";
import { stackConfig } from "../../helpers/stack-files";

const prod = buildTopology(stackConfig("prod"));
const dev = buildTopology(stackConfig("dev"));

describe("the topology's EKS side (pure)", () => {
  test("components map to the two namespaces as they map to the two networks", () => {
    // GIVEN the prod topology / WHEN each component's namespace is read
    const namespaces = Object.fromEntries(prod.components.map((c) => [c.name, namespaceOf(c)]));
    // THEN what joins the public network is in mcp-platform, the rest in mcp-internal
    expect(namespaces).toStrictEqual({
      consul: "mcp-platform",
      haproxy: "mcp-platform",
      router: "mcp-internal",
      "mcp-files": "mcp-internal",
      "mcp-memory": "mcp-internal",
      "mcp-everything": "mcp-internal",
      "mcp-echo": "mcp-internal",
      "network-monitor": "mcp-platform",
    });
    expect(clusterHost(component(prod, "mcp-files"))).toBe("mcp-files.mcp-internal.svc.cluster.local");
  });

  test("peers reach Consul and HAProxy by Docker alias in dev and by cluster DNS name on EKS", () => {
    const consul = component(prod, "consul");
    expect([peerHost("docker", consul), peerHost("eks", consul)]).toStrictEqual([
      "consul",
      "consul.mcp-platform.svc.cluster.local",
    ]);
    expect(component(prod, "mcp-echo").env.CONSUL_HTTP_ADDR).toBe(
      "http://consul.mcp-platform.svc.cluster.local:8500",
    );
    expect(component(dev, "mcp-echo").env.CONSUL_HTTP_ADDR).toBe("http://consul:8500");
  });

  test("HAProxy answers health checks on its stats port in both stacks", () => {
    expect([component(prod, "haproxy").healthPort, component(dev, "haproxy").healthPort]).toStrictEqual([
      11099, 11099,
    ]);
  });

  test("HAProxy runs eks.haproxy.replicas pods on EKS and one container on Docker", () => {
    // GIVEN the prod config, and the same config targeting Docker (its EKS settings still present)
    const cfg = stackConfig("prod");
    const onDocker = buildTopology({ ...cfg, target: "docker" });
    const three = buildTopology({ ...cfg, eks: { ...cfg.eks!, haproxy: { replicas: 3 } } });
    // THEN one container publishes the host ports in dev, and the pod count follows the config
    expect([
      component(prod, "haproxy").replicas,
      component(three, "haproxy").replicas,
      component(onDocker, "haproxy").replicas,
      component(dev, "haproxy").replicas,
    ]).toStrictEqual([2, 3, 1, 1]);
  });

  test("requests and limits exist only with EKS settings, per workload kind", () => {
    const eks = stackConfig("prod").eks!;
    expect(Object.fromEntries(prod.components.map((c) => [c.name, c.resources]))).toStrictEqual({
      consul: eks.resources.consul,
      haproxy: eks.resources.haproxy,
      router: eks.resources.router,
      "mcp-files": eks.resources.mcpService,
      "mcp-memory": eks.resources.mcpService,
      "mcp-everything": eks.resources.mcpService,
      "mcp-echo": eks.resources.mcpService,
      "network-monitor": eks.resources.networkMonitor,
    });
    expect(dev.components.some((c) => c.resources !== undefined)).toBe(false);
  });
});
