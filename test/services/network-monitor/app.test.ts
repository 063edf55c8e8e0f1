import { EnvError, loadEnv } from "@mcp-platform/shared";
import { buildApp } from "../../../services/network-monitor/src/app";
import { isProbeUrl, MonitorEnvSchema } from "../../../services/network-monitor/src/env";
import { silentLogger } from "../../helpers/log-capture";

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
      MONITOR_INTERVAL_MS: 10_000,
      MONITOR_RETENTION_MINUTES: 60,
    });
  });

  it("names bad targets, duplicates and out-of-range numbers", () => {
    // GIVEN
    const raw = {
      MONITOR_TARGETS: JSON.stringify([
        { name: "consul", url: "http://consul:8500/v1/status/leader" },
        { name: "consul", url: "tcp://consul:8500" },
        { name: "db", url: "tcp://postgres" },
      ]),
      MONITOR_INTERVAL_MS: "10",
      MONITOR_RETENTION_MINUTES: "0",
    };

    // WHEN / THEN
    expect(issues(() => loadEnv(MonitorEnvSchema, raw))).toStrictEqual([
      ["MONITOR_TARGETS[2].url", "must be an http(s):// URL or tcp://host:port"],
      ["MONITOR_TARGETS[1].name", "duplicates [0].name"],
      ["MONITOR_INTERVAL_MS", "must be an integer between 100 and 3600000"],
      ["MONITOR_RETENTION_MINUTES", "must be an integer between 1 and 10080"],
    ]);
    expect(
      issues(() =>
        loadEnv(MonitorEnvSchema, {
          MONITOR_TARGETS: raw.MONITOR_TARGETS.replace("tcp://postgres", "tcp://postgres:5432"),
        }),
      ),
    ).toStrictEqual([["MONITOR_TARGETS[1].name", "duplicates [0].name"]]);
  });
});

describe("isProbeUrl", () => {
  it.each([
    ["http://consul:8500/v1/status/leader", true],
    ["https://example.com", true],
    ["tcp://postgres:5432", true],
    ["tcp://[fd00::5]:5432", true],
    ["tcp://postgres", false],
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
    // GIVEN a monitor with two infrastructure targets
    const targets = [
      { name: "consul", url: "http://consul:8500/v1/status/leader" },
      { name: "haproxy", url: "tcp://haproxy:3000" },
    ];
    const env = loadEnv(MonitorEnvSchema, {
      MONITOR_TARGETS: JSON.stringify(targets),
      MONITOR_INTERVAL_MS: "5000",
      MONITOR_RETENTION_MINUTES: "120",
    });
    const app = buildApp({ env, logger: silentLogger(), version: "0.1.0" });

    // WHEN /info is requested
    const response = await app.inject({ method: "GET", url: "/info" });
    await app.close();

    // THEN
    expect((response.json() as { config: unknown }).config).toStrictEqual({
      discovery: "static",
      targets,
      intervalMs: 5000,
      retentionMinutes: 120,
    });
  });
});
