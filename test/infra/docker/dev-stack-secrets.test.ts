import { ofType, runProgram, secretValue, valueOf } from "../../helpers/pulumi-mocks";
import { stackConfigMap } from "../../helpers/stack-files";

const CONTAINER = "docker:index/container:Container";

describe("dev stack with configured secrets and an added service (mocked)", () => {
  test("a configured session key is used, a secretEnv key reaches its service, and the new service is wired", async () => {
    // GIVEN the dev config plus a `github` service whose token is a secret config key
    const config = stackConfigMap("dev");
    const services = JSON.parse(config["mcp-platform:services"] ?? "[]") as unknown[];
    services.push({
      name: "github",
      port: 11104,
      replicas: 1,
      toolSet: { kind: "builtin", name: "diagnostics" },
      secretEnv: { GITHUB_TOKEN: "githubToken" },
    });
    config["mcp-platform:services"] = JSON.stringify(services);
    config["mcp-platform:githubToken"] = "ghp_test";
    config["mcp-platform:routerSessionKey"] = "configured-session-key-0123456789abcdef";
    config["mcp-platform:routerSessionAcceptedKeys"] = "previous-session-key-0123456789abcdef";
    // WHEN the program runs
    const { program, resources } = await runProgram("dev", config, [
      "mcp-platform:githubToken",
      "mcp-platform:routerSessionKey",
      "mcp-platform:routerSessionAcceptedKeys",
    ]);
    await valueOf(program.containers as string[]);
    const container = (name: string) =>
      ofType(resources, CONTAINER).find((r) => r.inputs.name === name)?.inputs;
    // THEN no key is generated, and secrets arrive as secret inputs
    expect(ofType(resources, "random:index/randomPassword:RandomPassword")).toStrictEqual([]);
    const routerEnv = secretValue(container("router-1")?.envs) as string[];
    expect(routerEnv.filter((e) => e.startsWith("ROUTER_SESSION_"))).toStrictEqual([
      "ROUTER_SESSION_KEY=configured-session-key-0123456789abcdef",
      "ROUTER_SESSION_ACCEPTED_KEYS=previous-session-key-0123456789abcdef",
    ]);
    expect(secretValue(container("mcp-github-1")?.envs)).toStrictEqual([
      "HOST=0.0.0.0",
      "PORT=11104",
      "SERVICE_NAME=mcp-github",
      "CONSUL_HTTP_ADDR=http://consul:8500",
      "LOG_LEVEL=info",
      "MCP_ALLOWED_ORIGINS=http://localhost:3000,http://127.0.0.1:3000",
      "MCP_BRIDGE_PROCESSES=1",
      "GITHUB_TOKEN=ghp_test",
    ]);
    // AND the new service joins mcp-internal only and gets its direct port on HAProxy
    expect(container("mcp-github-1")?.networksAdvanced).toStrictEqual([
      { name: "mcp-internal", aliases: ["mcp-github"] },
    ]);
    expect(container("haproxy")?.ports.map((p: { external: number }) => p.external)).toContain(11104);
    expect(container("haproxy")?.uploads[0].content).toContain("frontend mcp-github\n    bind *:11104");
    expect(await valueOf(program.serviceUrls as Record<string, string>)).toHaveProperty(
      "github",
      "http://127.0.0.1:11104/mcp",
    );
  });
});
