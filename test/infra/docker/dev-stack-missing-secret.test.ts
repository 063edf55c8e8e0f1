import { runProgram } from "../../helpers/pulumi-mocks";
import { stackConfigMap } from "../../helpers/stack-files";

describe("dev stack with a missing secret (mocked)", () => {
  test("a secretEnv key that is not set fails naming the key and the command that sets it", async () => {
    // GIVEN a service that needs a secret config key nobody set
    const config = stackConfigMap("dev");
    const services = JSON.parse(config["mcp-platform:services"] ?? "[]") as Record<string, unknown>[];
    services[0] = { ...services[0], secretEnv: { API_TOKEN: "filesApiToken" } };
    config["mcp-platform:services"] = JSON.stringify(services);
    // WHEN the program runs / THEN it fails with the key named
    await expect(runProgram("dev", config)).rejects.toThrow(
      "mcp-platform:filesApiToken is not set; mcp-files needs it for API_TOKEN: run `pulumi config set --secret filesApiToken <value>`",
    );
  });
});
