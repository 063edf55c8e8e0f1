import { EnvError, loadEnv } from "@mcp-platform/shared";
import { buildMonitorApp } from "../../../services/network-monitor/src/app";
import { isProbeUrl, MonitorEnvSchema } from "../../../services/network-monitor/src/env";
import { silentLogger } from "../../helpers/log-capture";
import { healthy, HttpTarget, McpTarget } from "../../helpers/monitor-targets";
import { monitorApp, targetsEnv } from "../../helpers/monitor-app";

/** The issues of the EnvError `run` throws, as [path, message]. */
function issues(run: () => unknown): string[][] {
  try {
    run();
  } catch (error) {
    if (error instanceof EnvError) return error.issues.map((i) => [i.path, i.message]);
    throw error;
  }
  throw new Error("expected an EnvError");
}

describe("MonitorEnvSchema", () => {
  it("defaults to port 11091, a 10 s interval and an hour of history", () => {
    // GIVEN / WHEN
    const env = loadEnv(MonitorEnvSchema, {});

    // THEN
    expect(env).toStrictEqual({
      HOST: "0.0.0.0",
      PORT: 11091,
      SERVICE_NAME: "network-monitor",
      LOG_LEVEL: "info",
      SHUTDOWN_TIMEOUT_MS: 25_000,
      CONSUL_RESYNC_INTERVAL_MS: 30_000,
      MONITOR_INTERVAL_MS: 10_000,
      MONITOR_RETENTION_MINUTES: 60,
      MONITOR_PROBE_TIMEOUT_MS: 2_000,
      MONITOR_PROBE_CONCURRENCY: 16,
    });
  });

  it("refuses a retention that would need more than 100 000 samples per target", () => {
    // GIVEN a week of history at the shortest interval (6 048 000 samples, plus the one a history
    // keeps for timer jitter)
    const raw = { MONITOR_INTERVAL_MS: "100", MONITOR_RETENTION_MINUTES: "10080" };

    // WHEN / THEN
    expect(issues(() => loadEnv(MonitorEnvSchema, raw))).toStrictEqual([
      [
        "MONITOR_RETENTION_MINUTES",
        "keeps 6048001 samples per target at MONITOR_INTERVAL_MS=100; at most 100000: " +
          "raise the interval or shorten the retention",
      ],
    ]);
    // AND the bound is exact: a week at 6 048 ms would keep 100 001, at 6 049 ms 99 985
    expect(
      issues(() =>
        loadEnv(MonitorEnvSchema, { MONITOR_INTERVAL_MS: "6048", MONITOR_RETENTION_MINUTES: "10080" }),
      ),
    ).toHaveLength(1);
    const week = loadEnv(MonitorEnvSchema, {
      MONITOR_INTERVAL_MS: "6049",
      MONITOR_RETENTION_MINUTES: "10080",
    });
    expect([week.MONITOR_INTERVAL_MS, week.MONITOR_RETENTION_MINUTES]).toStrictEqual([6049, 10080]);
  });

  it("names bad targets, duplicates and out-of-range numbers", () => {
    // GIVEN
    const raw = {
      MONITOR_TARGETS: JSON.stringify([
        { name: "consul", url: "http://consul:8500/v1/status/leader" },
        { name: "consul", url: "tcp://consul:8500" },
        { name: "db", url: "tcp://postgres" },
        { name: "cache-1", service: "Cache", url: "tcp://cache:6379" },
      ]),
      MONITOR_INTERVAL_MS: "10",
      MONITOR_RETENTION_MINUTES: "0",
      MONITOR_PROBE_TIMEOUT_MS: "10",
      MONITOR_PROBE_CONCURRENCY: "0",
    };

    // WHEN / THEN
    expect(issues(() => loadEnv(MonitorEnvSchema, raw))).toStrictEqual([
      ["MONITOR_TARGETS[2].url", "must be an http(s):// URL or tcp://host:port"],
      [
        "MONITOR_TARGETS[3].service",
        "must be 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'",
      ],
      ["MONITOR_TARGETS[1].name", "duplicates [0].name"],
      ["MONITOR_INTERVAL_MS", "must be an integer between 100 and 3600000"],
      ["MONITOR_RETENTION_MINUTES", "must be an integer between 1 and 10080"],
      ["MONITOR_PROBE_TIMEOUT_MS", "must be an integer between 50 and 60000"],
      ["MONITOR_PROBE_CONCURRENCY", "must be an integer between 1 and 256"],
    ]);
    expect(
      issues(() =>
        loadEnv(MonitorEnvSchema, {
          MONITOR_TARGETS: raw.MONITOR_TARGETS.replace("tcp://postgres", "tcp://postgres:5432").replace(
            '"Cache"',
            '"cache"',
          ),
        }),
      ),
    ).toStrictEqual([["MONITOR_TARGETS[1].name", "duplicates [0].name"]]);
  });
});

describe("MonitorEnvSchema errors", () => {
  it("never show MONITOR_TARGETS' value, whose URLs may carry credentials", () => {
    // GIVEN targets with a password and a token in a URL, and a mistake elsewhere in the list
    const raw = {
      MONITOR_TARGETS: JSON.stringify([
        { name: "stats", url: "http://admin:S3cretPassw0rd@haproxy:11099/stats?token=qsecret" },
        { name: "stats", url: "tcp://haproxy:3000" },
      ]),
    };

    // WHEN it is loaded
    let message = "";
    try {
      loadEnv(MonitorEnvSchema, raw);
    } catch (error) {
      message = (error as Error).message;
    }

    // THEN the error names the mistake and shows the value redacted
    expect(message).toBe("invalid environment: MONITOR_TARGETS[1].name duplicates [0].name (got <redacted>)");
  });

  it("report an interval out of range once, without a follow-on error about the retention", () => {
    expect(issues(() => loadEnv(MonitorEnvSchema, { MONITOR_INTERVAL_MS: "5" }))).toStrictEqual([
      ["MONITOR_INTERVAL_MS", "must be an integer between 100 and 3600000"],
    ]);
  });
});

describe("isProbeUrl", () => {
  it.each([
    ["http://consul:8500/v1/status/leader", true],
    ["https://example.com", true],
    ["tcp://postgres:5432", true],
    ["tcp://[fd00::5]:5432", true],
    ["tcp://postgres", false],
    ["tcp://postgres:0", false],
    ["http://consul:0/v1/status/leader", false],
    ["tcp://postgres:5432/db", false],
    ["tcp://user@postgres:5432", false],
    ["ftp://files:21", false],
    ["postgres:5432", false],
    ["", false],
  ])("%s → %s", (url, expected) => {
    expect(isProbeUrl(url)).toStrictEqual(expected);
  });
});

describe("network-monitor buildApp", () => {
  it("serves its probe configuration in /info", async () => {
    // GIVEN a monitor with four targets, two URLs carrying credentials (not
    // probing: these hosts do not exist here)
    const targets = [
      { name: "consul", url: "http://consul:8500/v1/status/leader" },
      { name: "haproxy", url: "tcp://haproxy:3000" },
      { name: "stats", url: "http://admin:s3cret@haproxy:11099/stats" },
      { name: "web", url: "http://web:8080/health?token=s3cret&verbose" },
    ];
    const env = loadEnv(MonitorEnvSchema, {
      MONITOR_TARGETS: JSON.stringify(targets),
      MONITOR_INTERVAL_MS: "5000",
      MONITOR_RETENTION_MINUTES: "120",
    });
    const { app } = buildMonitorApp({ env, logger: silentLogger(), version: "0.1.0" }, { schedule: false });

    // WHEN /info is requested
    const response = await app.inject({ method: "GET", url: "/info" });
    await app.close();

    // THEN the configuration shows, credentials and query values redacted
    expect((response.json() as { config: unknown }).config).toStrictEqual({
      discovery: "static",
      targets: [
        targets[0],
        targets[1],
        { name: "stats", url: "http://***@haproxy:11099/stats" },
        { name: "web", url: "http://web:8080/health?token=***&verbose=***" },
      ],
      intervalMs: 5000,
      retentionMinutes: 120,
      probeTimeoutMs: 2000,
      probeConcurrency: 16,
      routerToken: false,
    });
  });

  it("probes a router that requires tokens with ROUTER_AUTH_TOKENS, and never shows the token", async () => {
    // GIVEN a router on loopback that answers /mcp with 401 unless shown its first token
    const tokens = ["first-router-token-0123456789", "second-router-token-0123456789"];
    const router = await McpTarget.start(healthy(), undefined, { bearer: tokens[0] });
    const env = loadEnv(MonitorEnvSchema, {
      MONITOR_TARGETS: JSON.stringify([{ name: "router", url: `${router.url}/health` }]),
      ROUTER_AUTH_TOKENS: tokens.join(","),
    });
    const { app, monitor } = buildMonitorApp(
      { env, logger: silentLogger(), version: "0.1.0" },
      { schedule: false },
    );
    try {
      // WHEN one probe round runs
      await monitor.tick();
      const services = await app.inject({ method: "GET", url: "/api/services" });
      const info = await app.inject({ method: "GET", url: "/info" });

      // THEN the router is up (its MCP check passed its bearer check), and /info only says a
      // token is configured
      expect((services.json() as { summary: unknown }).summary).toStrictEqual({
        up: 1,
        degraded: 0,
        down: 0,
        unknown: 0,
      });
      expect(new Set(router.authorizations)).toStrictEqual(new Set([`Bearer ${tokens[0]}`]));
      expect((info.json() as { config: { routerToken: unknown } }).config.routerToken).toBe(true);
      expect(info.body).not.toContain("router-token");
    } finally {
      await app.close();
      await router.close();
    }
  });

  it("probes a healthy target on time when other targets on its host and port hang", async () => {
    // GIVEN four targets that hang and a healthy one, all on one server (one host and port)
    const server = await HttpTarget.start(healthy());
    const targets = Object.fromEntries([
      ...[1, 2, 3, 4].map((n) => [`a-stuck-${n}`, `${server.url}/health?hang`]),
      ["z-ok", `${server.url}/health`],
    ]);
    const { app, monitor } = monitorApp(
      { MONITOR_TARGETS: targetsEnv(targets), MONITOR_PROBE_TIMEOUT_MS: "1000" },
      { schedule: false },
    );
    try {
      // WHEN one probe round runs
      await monitor.tick();
      const view = (await app.inject({ method: "GET", url: "/api/services" })).json() as {
        services: { name: string; instances: { status: string }[] }[];
      };

      // THEN the healthy target is up (it did not wait behind the hanging ones for a connection)
      const status = (name: string) => view.services.find((s) => s.name === name)?.instances[0]?.status;
      expect([status("a-stuck-1"), status("z-ok")]).toStrictEqual(["down", "up"]);
    } finally {
      await app.close();
      await server.close();
    }
  });
});
