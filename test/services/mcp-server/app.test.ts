import { loadEnv } from "@mcp-platform/shared";
import { bridgeCommand, buildApp, toolSetInfo } from "../../../services/mcp-server/src/app";
import { McpServerEnvSchema } from "../../../services/mcp-server/src/env";
import { capturingLogger, fields, silentLogger } from "../../helpers/log-capture";
import { envIssues } from "../../helpers/env-issues";

const GITHUB_SERVER = {
  command: "npx",
  args: ["-y", "@modelcontextprotocol/server-github@2025.4.8"],
  env: { GITHUB_PERSONAL_ACCESS_TOKEN: "ghp_secret_value", GITHUB_API_URL: "https://api.github.com" },
};

describe("McpServerEnvSchema", () => {
  it("defaults to port 8080, one bridge process and the built-in tool set", () => {
    // GIVEN / WHEN
    const env = loadEnv(McpServerEnvSchema, {});

    // THEN
    expect(env).toStrictEqual({
      HOST: "0.0.0.0",
      PORT: 8080,
      SERVICE_NAME: "mcp-server",
      LOG_LEVEL: "info",
      SHUTDOWN_TIMEOUT_MS: 25_000,
      CONSUL_RESYNC_INTERVAL_MS: 30_000,
      MCP_BRIDGE_PROCESSES: 1,
      MCP_BRIDGE_ENV: [],
      MCP_BRIDGE_BACKOFF_MS: 250,
      MCP_MAX_SESSIONS: 10_000,
      MCP_ALLOWED_ORIGINS: [],
      MCP_MAX_BODY_BYTES: 1_048_576,
      MCP_ALLOWED_HOSTS: [],
    });
  });

  it("parses one mcpServers entry", () => {
    // GIVEN / WHEN
    const env = loadEnv(McpServerEnvSchema, {
      MCP_SERVER: JSON.stringify(GITHUB_SERVER),
      MCP_BRIDGE_PROCESSES: "4",
    });

    // THEN
    expect([env.MCP_SERVER, env.MCP_BRIDGE_PROCESSES]).toStrictEqual([GITHUB_SERVER, 4]);
  });

  it.each([
    ["not JSON", "{command: npx}", [["MCP_SERVER", "must be valid JSON", "<redacted>"]]],
    [
      "a misspelt key",
      '{"command": "npx", "arg": ["x"]}',
      [["MCP_SERVER", 'Unrecognized key: "arg"', "<redacted>"]],
    ],
    ["an empty command", '{"command": ""}', [["MCP_SERVER.command", "must not be empty", "<redacted>"]]],
    [
      "a non-string env value",
      '{"command": "npx", "env": {"PORT": 1}}',
      [["MCP_SERVER.env.PORT", "Invalid input: expected string, received number", "<redacted>"]],
    ],
  ])("rejects MCP_SERVER with %s, never showing its value", (_case, value, expected) => {
    expect(envIssues(() => loadEnv(McpServerEnvSchema, { MCP_SERVER: value }))).toStrictEqual(expected);
  });

  it("reads MCP_BRIDGE_ENV as variable names, refusing the platform's own secrets", () => {
    expect(
      loadEnv(McpServerEnvSchema, { MCP_BRIDGE_ENV: "MEMORY_FILE_PATH, GITHUB_TOKEN" }).MCP_BRIDGE_ENV,
    ).toStrictEqual(["MEMORY_FILE_PATH", "GITHUB_TOKEN"]);
    expect(envIssues(() => loadEnv(McpServerEnvSchema, { MCP_BRIDGE_ENV: "OK,NOT-A-NAME" }))).toStrictEqual([
      ["MCP_BRIDGE_ENV[1]", "must list environment variable names", '"OK,NOT-A-NAME"'],
    ]);
    expect(
      envIssues(() => loadEnv(McpServerEnvSchema, { MCP_BRIDGE_ENV: "CONSUL_HTTP_TOKEN" })),
    ).toStrictEqual([
      ["MCP_BRIDGE_ENV[0]", "must not name the platform's own secret variables", '"CONSUL_HTTP_TOKEN"'],
    ]);
  });

  it("bounds MCP_BRIDGE_PROCESSES to 1..64", () => {
    expect(envIssues(() => loadEnv(McpServerEnvSchema, { MCP_BRIDGE_PROCESSES: "65" }))).toStrictEqual([
      ["MCP_BRIDGE_PROCESSES", "must be an integer between 1 and 64", '"65"'],
    ]);
  });
});

describe("bridgeCommand", () => {
  it("hands the child the named variables of the server's environment, and nothing else of it", () => {
    // GIVEN a server whose environment holds the tool's variables next to the platform's own
    const env = loadEnv(McpServerEnvSchema, {
      MCP_SERVER: JSON.stringify({ command: "tool", args: ["--x"], env: { MODE: "entry" } }),
      MCP_BRIDGE_ENV: "GITHUB_TOKEN,MODE,UNSET_ONE",
    });
    const environment = {
      GITHUB_TOKEN: "ghp_value",
      MODE: "service",
      CONSUL_HTTP_TOKEN: "consul-secret",
      PORT: "11104",
    };
    const { logger, lines } = capturingLogger("warn");

    // WHEN the child's command is built
    const command = bridgeCommand(env, env.MCP_SERVER!, environment, logger);

    // THEN it carries the named variables, MCP_SERVER's own env winning, and no other variable
    expect(command).toStrictEqual({
      command: "tool",
      args: ["--x"],
      env: { GITHUB_TOKEN: "ghp_value", MODE: "entry" },
    });
    // AND a named variable that is not set is reported once, by name
    expect(fields(lines, ["msg", "variables"])).toStrictEqual([
      {
        msg: "MCP_BRIDGE_ENV names variables that are not set; the child starts without them",
        variables: ["UNSET_ONE"],
      },
    ]);
  });
});

describe("mcp-server buildApp", () => {
  it("describes a bridged tool set in /info without argument or env values", async () => {
    // GIVEN an mcp-server bridging a stdio server that carries a token
    const env = loadEnv(McpServerEnvSchema, {
      SERVICE_NAME: "mcp-github",
      PORT: "11104",
      MCP_SERVER: JSON.stringify(GITHUB_SERVER),
      MCP_BRIDGE_PROCESSES: "2",
      MCP_BRIDGE_ENV: "GITHUB_TOKEN",
    });
    const app = buildApp({
      env,
      environment: { GITHUB_TOKEN: "ghp_other_secret" },
      logger: silentLogger(),
      version: "0.1.0",
    });

    // WHEN /info is requested
    const response = await app.inject({ method: "GET", url: "/info" });
    await app.close();

    // THEN
    const body = response.json() as { service: string; config: unknown };
    expect([body.service, body.config]).toStrictEqual([
      "mcp-github",
      {
        toolSet: {
          kind: "stdio",
          command: "npx",
          argCount: 2,
          envNames: ["GITHUB_API_URL", "GITHUB_PERSONAL_ACCESS_TOKEN"],
        },
        bridgeProcesses: 2,
        bridgeEnv: ["GITHUB_TOKEN"],
        allowedOrigins: [],
        maxBodyBytes: 1_048_576,
        maxSessions: 10_000,
        processesUp: 0,
        sessions: 0,
      },
    ]);
    expect(response.body).not.toContain("ghp_secret_value");
    expect(response.body).not.toContain("ghp_other_secret");
  });

  it("reports the built-in tool set when MCP_SERVER is unset", () => {
    expect(toolSetInfo(undefined)).toStrictEqual({ kind: "builtin" });
  });
});
