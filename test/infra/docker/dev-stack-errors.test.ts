import { runProgram } from "../../helpers/pulumi-mocks";
import { stackConfigMap } from "../../helpers/stack-files";

describe("dev stack with bad config (mocked)", () => {
  test("an invalid config stops the program with an error naming the key", async () => {
    // GIVEN a dev config whose first service port is outside the plan
    const config = stackConfigMap("dev");
    config["mcp-platform:services"] = (config["mcp-platform:services"] ?? "").replace(
      '"port":11101',
      '"port":11250',
    );
    // WHEN the program runs / THEN it fails before creating anything, naming key and value
    await expect(runProgram("dev", config)).rejects.toThrow(
      "mcp-platform:services[0].port: 11250 is outside 11100–11199",
    );
  });

  test("a secret the router would refuse at boot stops the program, without showing it", async () => {
    // GIVEN a session key shorter than the router accepts
    const config = { ...stackConfigMap("dev"), "mcp-platform:routerSessionKey": "too-short-key" };
    // WHEN the program runs / THEN it fails naming the key, not the value
    const failure = runProgram("dev", config, ["mcp-platform:routerSessionKey"]);
    await expect(failure).rejects.toThrow(
      "mcp-platform:routerSessionKey: must be at least 32 characters (value hidden)",
    );
    await expect(failure).rejects.not.toThrow("too-short-key");
  });
});
