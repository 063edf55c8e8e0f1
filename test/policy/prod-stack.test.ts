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
    expect(findings.map((f) => f.policy)).toStrictEqual(["no-public-services"]);
  });
});
