import fc from "fast-check";
import { DNS_PEER, internalNetworkPolicies, peerOf } from "../../../infra/eks/network-policy";
import { buildTopology, component } from "../../../infra/topology";
import { configWithServices } from "../../helpers/configs";
import { stackConfig } from "../../helpers/stack-files";

const prod = buildTopology(stackConfig("prod"));
const byName = (t: ReturnType<typeof buildTopology>) =>
  Object.fromEntries(internalNetworkPolicies(t).map((p) => [p.name, p.spec as Record<string, any>]));

describe("mcp-internal NetworkPolicies (pure)", () => {
  test("every pod may reach DNS and Consul's HTTP API, and nothing else by default", () => {
    // GIVEN the prod topology / WHEN the policies are derived
    const policies = byName(prod);
    // THEN the namespace-wide egress rule names kube-dns and the Consul servers only
    expect(policies["allow-dns-and-consul-egress"]).toStrictEqual({
      podSelector: {},
      policyTypes: ["Egress"],
      egress: [
        {
          to: [
            {
              namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
              podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
            },
          ],
          ports: [
            { protocol: "UDP", port: 53 },
            { protocol: "TCP", port: 53 },
          ],
        },
        {
          to: [
            {
              namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "mcp-platform" } },
              podSelector: { matchLabels: { app: "consul", component: "server" } },
            },
          ],
          ports: [{ protocol: "TCP", port: 8500 }],
        },
      ],
    });
    expect(policies["default-deny-all"]).toStrictEqual({
      podSelector: {},
      policyTypes: ["Ingress", "Egress"],
    });
  });

  test("the router admits HAProxy and its own replicas on its port, and the monitor and Consul on its health port", () => {
    const router = { podSelector: { matchLabels: { "app.kubernetes.io/name": "router" } } };
    expect(byName(prod)["allow-router-ingress"]).toStrictEqual({
      podSelector: { matchLabels: { "app.kubernetes.io/name": "router" } },
      policyTypes: ["Ingress"],
      ingress: [
        {
          from: [peerOf(component(prod, "haproxy")), router],
          ports: [{ protocol: "TCP", port: 3000 }],
        },
        {
          from: [
            peerOf(component(prod, "network-monitor")),
            {
              namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "mcp-platform" } },
              podSelector: { matchLabels: { app: "consul", component: "server" } },
            },
          ],
          ports: [{ protocol: "TCP", port: 3000 }],
        },
      ],
    });
    // AND a router may reach the other replicas on the router port (SSE posts and cancellations
    // go to the replica that holds the stream or runs the call), besides the MCP services
    expect(byName(prod)["allow-router-egress"]?.egress[1]).toStrictEqual({
      to: [router],
      ports: [{ protocol: "TCP", port: 3000 }],
    });
    // AND a peer in the same namespace is selected by pod alone
    expect(peerOf(component(prod, "router"))).toStrictEqual({
      podSelector: { matchLabels: { "app.kubernetes.io/name": "router" } },
    });
    expect(DNS_PEER.podSelector).toStrictEqual({ matchLabels: { "k8s-app": "kube-dns" } });
  });

  test("a named metrics scraper's namespace may reach every pod's health port, and nothing more", () => {
    // GIVEN a Prometheus in `monitoring` / WHEN the policies are derived with it
    const withScraper = Object.fromEntries(
      internalNetworkPolicies(prod, "monitoring").map((p) => [p.name, p.spec as Record<string, any>]),
    );
    const without = byName(prod);
    const scraper = { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } };
    // THEN each ingress policy gains it on the health (and metrics) rule only
    const ingressNames = Object.keys(without).filter((n) => n.endsWith("-ingress"));
    expect(ingressNames).toHaveLength(5);
    for (const name of ingressNames) {
      const [callers, checkers] = withScraper[name]!.ingress;
      const [ownCallers, ownCheckers] = without[name]!.ingress;
      expect(callers).toStrictEqual(ownCallers);
      expect(checkers).toStrictEqual({ ...ownCheckers, from: [...ownCheckers.from, scraper] });
    }
    // AND the other policies are unchanged
    const others = Object.keys(without).filter((n) => !n.endsWith("-ingress"));
    expect(others.map((n) => withScraper[n])).toStrictEqual(others.map((n) => without[n]));
  });

  test("for any catalog, each service admits exactly its own port, and the router may reach exactly those", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), (n) => {
        // GIVEN n services on EKS / WHEN the policies are derived
        const t = buildTopology(configWithServices(n, "eks"));
        const policies = byName(t);
        // THEN one ingress policy per service, on its port only, plus the four shared ones
        expect(Object.keys(policies).length).toBe(n + 4);
        for (const c of t.catalog) {
          const ingress = policies[`allow-${c.component}-ingress`]?.ingress as { ports: unknown[] }[];
          expect([c.component, ingress.map((r) => r.ports)]).toStrictEqual([
            c.component,
            [[{ protocol: "TCP", port: c.port }], [{ protocol: "TCP", port: c.port }]],
          ]);
        }
        expect(policies["allow-router-egress"]?.egress[0].ports).toStrictEqual(
          t.catalog.map((c) => ({ protocol: "TCP", port: c.port })),
        );
      }),
      { numRuns: 40 },
    );
  });
});
