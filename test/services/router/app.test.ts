import { loadEnv } from "@mcp-platform/shared";
import { buildApp } from "../../../services/router/src/app";
import { RouterEnvSchema } from "../../../services/router/src/env";
import { silentLogger } from "../../helpers/log-capture";
import { envIssues } from "../../helpers/env-issues";

const SESSION_KEY = "0123456789abcdef0123456789abcdef-session";
const ACCEPTED_KEY = "fedcba9876543210fedcba9876543210-previous";
const TOKENS = ["token-aaaaaaaaaaaaaaaa", "token-bbbbbbbbbbbbbbbb"];

describe("RouterEnvSchema", () => {
  it("defaults to port 3000 and the name router, with no static services or secrets", () => {
    // GIVEN / WHEN
    const env = loadEnv(RouterEnvSchema, {});

    // THEN
    expect(env).toStrictEqual({
      HOST: "0.0.0.0",
      PORT: 3000,
      SERVICE_NAME: "router",
      LOG_LEVEL: "info",
      SHUTDOWN_TIMEOUT_MS: 25_000,
      CONSUL_RESYNC_INTERVAL_MS: 30_000,
      ROUTER_SESSION_ACCEPTED_KEYS: [],
      ROUTER_PEERS: [],
      ROUTER_SESSION_TTL_SECONDS: 604_800,
      ROUTER_CALL_TIMEOUT_MS: 60_000,
      ROUTER_CALL_MAX_MS: 600_000,
      ROUTER_CATALOG_REFRESH_MS: 30_000,
      ROUTER_EJECT_AFTER_FAILURES: 3,
      ROUTER_EJECT_BASE_MS: 1_000,
      ROUTER_DRAIN_QUIET_MS: 1_000,
      ROUTER_DRAIN_MAX_MS: 10_000,
      ROUTER_MAX_STREAMS: 5_000,
      MCP_ALLOWED_ORIGINS: [],
      MCP_MAX_BODY_BYTES: 1_048_576,
      MCP_ALLOWED_HOSTS: [],
    });
  });

  it("parses static services, the session key and the auth tokens", () => {
    // GIVEN
    const raw = {
      ROUTER_STATIC_SERVICES:
        '{"files": ["http://127.0.0.1:11101/mcp", "http://127.0.0.1:11201/mcp"], "memory": ["http://127.0.0.1:11105/mcp"]}',
      ROUTER_SESSION_KEY: SESSION_KEY,
      ROUTER_AUTH_TOKENS: TOKENS.join(", "),
    };

    // WHEN
    const env = loadEnv(RouterEnvSchema, raw);

    // THEN
    expect([env.ROUTER_STATIC_SERVICES, env.ROUTER_SESSION_KEY, env.ROUTER_AUTH_TOKENS]).toStrictEqual([
      {
        files: ["http://127.0.0.1:11101/mcp", "http://127.0.0.1:11201/mcp"],
        memory: ["http://127.0.0.1:11105/mcp"],
      },
      SESSION_KEY,
      TOKENS,
    ]);
  });

  it("names each bad static service entry by its path", () => {
    // GIVEN an id with capitals, an empty list and a URL that is not http
    const raw = {
      ROUTER_STATIC_SERVICES: '{"Files": ["http://a/mcp"], "memory": [], "search": ["ftp://b/mcp"]}',
    };

    // WHEN / THEN (the value is not shown: its URLs may carry credentials)
    const shown = "<redacted>";
    expect(envIssues(() => loadEnv(RouterEnvSchema, raw))).toStrictEqual([
      [
        "ROUTER_STATIC_SERVICES.Files",
        "is not a valid key: must be 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'",
        shown,
      ],
      ["ROUTER_STATIC_SERVICES.memory", "must list at least one URL", shown],
      ["ROUTER_STATIC_SERVICES.search[0]", "must be an http:// or https:// URL", shown],
    ]);
  });

  it("rejects weak secrets without showing them", () => {
    // GIVEN a short session key and a short token
    const raw = {
      ROUTER_SESSION_KEY: "short-key",
      ROUTER_SESSION_ACCEPTED_KEYS: `${"k".repeat(32)},also-short,${"with space".padEnd(32, "x")}`,
      ROUTER_AUTH_TOKENS: "tiny,token-cccccccccccccccc",
    };

    // WHEN / THEN
    expect(envIssues(() => loadEnv(RouterEnvSchema, raw))).toStrictEqual([
      ["ROUTER_SESSION_KEY", "must be at least 32 characters", "<redacted>"],
      ["ROUTER_SESSION_ACCEPTED_KEYS[1]", "must be at least 32 characters", "<redacted>"],
      ["ROUTER_SESSION_ACCEPTED_KEYS[2]", "must not contain commas or whitespace", "<redacted>"],
      ["ROUTER_AUTH_TOKENS[0]", "tokens must be at least 16 characters", "<redacted>"],
    ]);
    // AND a key of spaces (it could not move to the accepted keys either when rotated out)
    expect(envIssues(() => loadEnv(RouterEnvSchema, { ROUTER_SESSION_KEY: " ".repeat(40) }))).toStrictEqual([
      ["ROUTER_SESSION_KEY", "must not contain commas or whitespace", "<redacted>"],
    ]);
  });
});

describe("router buildApp", () => {
  it("serves its configuration in /info with secrets reduced to facts", async () => {
    // GIVEN a router configured with static services and secrets
    const env = loadEnv(RouterEnvSchema, {
      SERVICE_NAME: "router",
      CONSUL_HTTP_ADDR: "http://consul:8500",
      ROUTER_STATIC_SERVICES:
        '{"files": ["http://127.0.0.1:11101/mcp", "http://user:s3cret-pw@files:11101/mcp"]}',
      ROUTER_SESSION_KEY: SESSION_KEY,
      ROUTER_SESSION_ACCEPTED_KEYS: ACCEPTED_KEY,
      ROUTER_AUTH_TOKENS: TOKENS.join(","),
      MCP_ALLOWED_ORIGINS: "https://app.example.com",
      MCP_MAX_BODY_BYTES: "65536",
      ROUTER_MAX_STREAMS: "250",
      ROUTER_DRAIN_QUIET_MS: "0",
    });
    const app = buildApp({ env, logger: silentLogger(), version: "0.1.0" });

    // WHEN /info is requested
    const response = await app.inject({ method: "GET", url: "/info" });
    await app.close();

    // THEN
    expect((response.json() as { config: unknown }).config).toStrictEqual({
      discovery: "consul",
      staticServices: { files: ["http://127.0.0.1:11101/mcp", "http://***@files:11101/mcp"] },
      sessionKeyConfigured: true,
      acceptedSessionKeyCount: 1,
      authTokenCount: 2,
      allowedOrigins: ["https://app.example.com"],
      maxBodyBytes: 65_536,
      maxStreams: 250,
      services: [],
      tools: 0,
      inFlight: 0,
      streams: 0,
      sseSessions: 0,
      passthroughStreams: 0,
    });
    for (const secret of [SESSION_KEY, ACCEPTED_KEY, ...TOKENS, "s3cret-pw"]) {
      expect(response.body).not.toContain(secret);
    }
  });

  it("is not ready before it has discovered and listed the services, and never listens by itself", async () => {
    // GIVEN a default router app
    const env = loadEnv(RouterEnvSchema, { ROUTER_DRAIN_QUIET_MS: "0" });
    const app = buildApp({ env, logger: silentLogger(), version: "0.1.0" });

    // WHEN probed
    const ready = await app.inject({ method: "GET", url: "/health/ready" });

    // THEN
    expect([
      ready.statusCode,
      (ready.json() as { failed: string[] }).failed,
      app.server.listening,
    ]).toStrictEqual([503, ["discovery", "catalog"], false]);
    await app.close();
  });
});
