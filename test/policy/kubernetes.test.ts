import { allPolicies } from "../../policy/policies";
import { hpaBounds } from "../../policy/policies/hygiene";
import {
  base,
  K8S_VARIANTS,
  podContainer,
  variant,
  withPublicPorts,
  without,
} from "../helpers/k8s-policy-fixtures";
import { runPolicies } from "../helpers/policy-harness";

describe("policy pack over Kubernetes objects", () => {
  test("finds no violation on a well-formed prod-like stack", async () => {
    expect(await runPolicies(allPolicies(), base)).toStrictEqual([]);
  });

  test.each(K8S_VARIANTS)("reports %s, naming the resource and the rule", async (_name, make, expected) => {
    expect(await runPolicies(allPolicies(), make())).toStrictEqual(expected);
  });

  test("named target ports of the public Service that reach the gateway and MCP ports pass", async () => {
    // GIVEN HAProxy's pods naming their gateway port, and the public Service targeting it by name
    const objects = withPublicPorts([{ name: "http", port: 3000, targetPort: "http" }]);
    // WHEN the pack runs / THEN nothing is reported
    expect(await runPolicies(allPolicies(), objects)).toStrictEqual([]);
  });

  test("a default-deny suffices when mcp-internal's Namespace comes from outside the stack", async () => {
    // GIVEN workloads in mcp-internal and its default-deny, but no Namespace resource
    const objects = without("ns-internal");
    // WHEN the pack runs / THEN nothing is reported
    expect(await runPolicies(allPolicies(), objects)).toStrictEqual([]);
  });

  test("an unknown image digest during preview is not judged", async () => {
    // GIVEN a Deployment whose image is not known yet (a digest computed by the update)
    const pending = variant("mcp-files", (p) => (podContainer(p).image = undefined));
    // WHEN the pack runs / THEN pinned-images has nothing to say yet
    expect(
      (await runPolicies(allPolicies(), pending)).filter((f) => f.policy === "pinned-images"),
    ).toStrictEqual([]);
  });

  test("enforcement levels default to mandatory and can be lowered per policy", () => {
    expect(new Set(allPolicies().map((p) => p.enforcementLevel))).toStrictEqual(new Set(["mandatory"]));
    expect(hpaBounds(2, { enforcementLevel: "advisory" }).enforcementLevel).toBe("advisory");
  });
});
