/**
 * The MCP Platform policy pack: `pulumi preview --stack <s> --policy-pack policy`.
 * Only creates the pack; the rules live in ./policies, tested without starting a pack server.
 */
import { PolicyPack } from "@pulumi/policy";
import { allPolicies } from "./policies";

new PolicyPack("mcp-platform", {
  description: "Network isolation, the port plan and workload hygiene for MCP Platform stacks.",
  enforcementLevel: "mandatory",
  policies: allPolicies(),
});
