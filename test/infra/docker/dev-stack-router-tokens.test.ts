import { ofType, runProgram, secretValue, valueOf } from "../../helpers/pulumi-mocks";
import { stackConfigMap } from "../../helpers/stack-files";

const CONTAINER = "docker:index/container:Container";

// One program run per file: the Pulumi runtime keeps the first run's stack.
describe("dev stack with router bearer tokens (mocked)", () => {
  test("configured router tokens reach every router and the monitor (which probes the routers), and nothing else", async () => {
    // GIVEN the dev config with router bearer tokens
    const config = stackConfigMap("dev");
    config["mcp-platform:routerAuthTokens"] = "token-aaaaaaaaaaaaaaaa,token-bbbbbbbbbbbbbbbb";
    // WHEN the program runs
    const { program, resources } = await runProgram("dev", config, ["mcp-platform:routerAuthTokens"]);
    await valueOf(program.containers as string[]);
    // THEN the containers holding the tokens are exactly the routers and the monitor
    // (a container given no secret has plain envs; one given any has them as a secret)
    const envsOf = (envs: unknown) => (Array.isArray(envs) ? envs : secretValue(envs)) as string[];
    const holders = ofType(resources, CONTAINER)
      .filter((r) => envsOf(r.inputs.envs).some((line) => line.startsWith("ROUTER_AUTH_TOKENS=")))
      .map((r) => r.inputs.name as string)
      .sort();
    expect(holders).toStrictEqual(["network-monitor", "router-1", "router-2"]);
    for (const name of holders) {
      const container = ofType(resources, CONTAINER).find((r) => r.inputs.name === name);
      expect(secretValue(container?.inputs.envs)).toContain(
        "ROUTER_AUTH_TOKENS=token-aaaaaaaaaaaaaaaa,token-bbbbbbbbbbbbbbbb",
      );
    }
  });
});
