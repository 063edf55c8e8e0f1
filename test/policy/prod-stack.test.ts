import { allPolicies } from "../../policy/policies";
import type { Subject } from "../helpers/policy-harness";
import { plainProps, runPolicies } from "../helpers/policy-harness";
import { runProgram, settled } from "../helpers/pulumi-mocks";
import { stackConfigMap } from "../helpers/stack-files";

let shipped: Subject[];

beforeAll(async () => {
  // GIVEN the prod stack as the program declares it under mocks
  const { resources } = await runProgram("prod", stackConfigMap("prod"));
  await settled();
  // Plain data, as the engine hands props to policies (and so they can be cloned per variant).
  shipped = resources.map((r) => ({ type: r.type, name: r.name, props: plainProps(r.inputs) }));
});

/** The shipped resources with the first one matching `pick` changed. */
function variant(pick: (s: Subject) => boolean, change: (props: Record<string, any>) => void): Subject[] {
  const copy = structuredClone(shipped);
  const target = copy.find(pick);
  if (!target) throw new Error("no such resource");
  change(target.props);
  return copy;
}

const isDeployment = (name: string) => (s: Subject) =>
  s.type === "kubernetes:apps/v1:Deployment" && s.props.metadata?.name === name;

describe("policy pack over the prod stack", () => {
  test("declares Kubernetes workloads for the pack to judge", () => {
    const kinds = new Set(shipped.map((s) => s.type));
    expect(
      [
        "kubernetes:apps/v1:Deployment",
        "kubernetes:core/v1:Service",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "kubernetes:core/v1:Namespace",
      ].filter((k) => kinds.has(k)),
    ).toHaveLength(5);
  });

  test("finds no violation on the prod stack as shipped", async () => {
    expect(await runPolicies(allPolicies(), shipped)).toStrictEqual([]);
  });

  test("reports a Deployment without probes on the real prod objects", async () => {
    // GIVEN the router Deployment without its probes
    const broken = variant(isDeployment("router"), (p) => {
      for (const c of p.spec.template.spec.containers) {
        delete c.livenessProbe;
        delete c.readinessProbe;
      }
    });
    // WHEN the pack runs / THEN probes-set names the resource
    const findings = (await runPolicies(allPolicies(), broken)).map((f) => `${f.policy}: ${f.message}`);
    expect(
      findings.every((f) => f.startsWith("probes-set: ") && f.includes("(router): container router has no")),
    ).toBe(true);
    expect(findings).toHaveLength(2);
  });

  test("reports the default-deny policy removed from mcp-internal", async () => {
    const broken = shipped.filter(
      (s) =>
        !(
          s.type === "kubernetes:networking.k8s.io/v1:NetworkPolicy" &&
          (s.props.spec?.podSelector?.matchLabels === undefined ||
            Object.keys(s.props.spec.podSelector.matchLabels).length === 0) &&
          (s.props.spec?.ingress ?? []).length === 0 &&
          (s.props.spec?.egress ?? []).length === 0
        ),
    );
    expect(broken.length).toBeLessThan(shipped.length);
    const findings = await runPolicies(allPolicies(), broken);
    expect(findings.map((f) => f.policy)).toStrictEqual(["mcp-internal-default-deny"]);
  });

  test("reports a second LoadBalancer", async () => {
    const broken = variant(
      (s) => s.type === "kubernetes:core/v1:Service" && s.props.metadata?.name === "router",
      (p) => (p.spec = { ...p.spec, type: "LoadBalancer", clusterIP: undefined }),
    );
    const findings = await runPolicies(allPolicies(), broken);
    expect(findings.map((f) => f.message)).toStrictEqual([
      "router-service (router): Service type LoadBalancer is reserved for haproxy's pods in mcp-platform; use ClusterIP",
      "2 LoadBalancer Services (mcp-platform-front-door-public (haproxy-public), router-service (router)); only one, for haproxy's pods in mcp-platform, may exist",
    ]);
  });

  test("reports an extra allow-all NetworkPolicy next to the real default-deny", async () => {
    // GIVEN the shipped policies plus one opening all egress of mcp-internal
    const broken = [
      ...structuredClone(shipped),
      {
        type: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        name: "allow-all-egress",
        props: {
          metadata: { name: "allow-all-egress", namespace: "mcp-internal" },
          spec: { podSelector: {}, policyTypes: ["Egress"], egress: [{}] },
        },
      },
    ];
    // WHEN the pack runs / THEN exactly that policy is named
    expect(await runPolicies(allPolicies(), broken)).toStrictEqual([
      {
        policy: "mcp-internal-default-deny",
        resource: "(stack)",
        message: "allow-all-egress: egress[0] has no to peers, so it admits every peer",
      },
    ]);
  });

  test("reports the Consul release's UI Service made a LoadBalancer", async () => {
    const broken = variant(
      (s) => s.type === "kubernetes:helm.sh/v3:Release" && s.props.chart === "consul",
      (p) => (p.values.ui.service.type = "LoadBalancer"),
    );
    expect(await runPolicies(allPolicies(), broken)).toStrictEqual([
      {
        policy: "no-public-services",
        resource: "(stack)",
        message:
          "mcp-platform-consul-release (consul): Helm value ui.service.type is LoadBalancer; use ClusterIP",
      },
    ]);
  });

  test("reports the haproxy stats port added to the public Service", async () => {
    const broken = variant(
      (s) => s.type === "kubernetes:core/v1:Service" && s.props.metadata?.name === "haproxy-public",
      (p) => p.spec.ports.push({ name: "health", port: 11099, targetPort: "health", protocol: "TCP" }),
    );
    expect(await runPolicies(allPolicies(), broken)).toStrictEqual([
      {
        policy: "published-ports-in-plan",
        resource: "mcp-platform-front-door-public",
        message:
          "mcp-platform-front-door-public (haproxy-public): exposes port 11099; only 3000 and 11100–11199 may be public",
      },
    ]);
  });

  test("reports mcp-internal's workloads when neither its Namespace nor the default-deny is declared", async () => {
    // GIVEN the prod stack without its Namespace objects and its default-deny policy
    const broken = shipped.filter(
      (s) =>
        s.type !== "kubernetes:core/v1:Namespace" &&
        !(
          s.type === "kubernetes:networking.k8s.io/v1:NetworkPolicy" &&
          s.props.metadata?.name === "default-deny-all"
        ),
    );
    // WHEN the pack runs / THEN the finding names the workloads that run unprotected
    expect(await runPolicies(allPolicies(), broken)).toStrictEqual([
      {
        policy: "mcp-internal-default-deny",
        resource: "(stack)",
        message:
          "mcp-echo-deployment (mcp-echo), mcp-everything-deployment (mcp-everything), mcp-files-deployment (mcp-files), mcp-memory-deployment (mcp-memory), router-deployment (router) (no Namespace resource declared): namespace mcp-internal has no default-deny NetworkPolicy (empty podSelector, Ingress and Egress, no rules)",
      },
    ]);
  });
});
