/**
 * Builds the network-monitor app for tests (`buildMonitorApp`, never the process), with a silent
 * logger and the environment a test gives on top of 127.0.0.1:0, and waits on its events.
 */
import type { Logger } from "@mcp-platform/shared";
import { loadEnv } from "@mcp-platform/shared";
import type { MonitorApp, MonitorAppOptions } from "../../services/network-monitor/src/app";
import { buildMonitorApp } from "../../services/network-monitor/src/app";
import { MonitorEnvSchema } from "../../services/network-monitor/src/env";
import type { Sample } from "../../services/network-monitor/src/history";
import type { Monitor } from "../../services/network-monitor/src/monitor";
import type { ProbeResult } from "../../services/network-monitor/src/probes";
import type { Target } from "../../services/network-monitor/src/targets";
import { silentLogger } from "./log-capture";

/** A monitor app from `env` (MONITOR_* and friends) on 127.0.0.1:0, logging to `logger`. */
export function monitorApp(
  env: Record<string, string>,
  options: MonitorAppOptions = {},
  logger: Logger = silentLogger(),
): MonitorApp {
  const parsed = loadEnv(MonitorEnvSchema, { HOST: "127.0.0.1", PORT: "0", ...env });
  return buildMonitorApp({ env: parsed, logger, version: "0.1.0" }, options);
}

/** `MONITOR_TARGETS` JSON from name → URL pairs. */
export function targetsEnv(targets: Record<string, string>): string {
  return JSON.stringify(Object.entries(targets).map(([name, url]) => ({ name, url })));
}

/**
 * Resolves with the next sample recorded for `targetId`. Call it before the action that causes
 * the probe, so the event cannot be missed.
 */
export function nextSample(
  monitor: Monitor,
  targetId: string,
): Promise<{ sample: Sample; result: ProbeResult }> {
  return new Promise((resolve) => {
    const listener = (target: Target, sample: Sample, result: ProbeResult) => {
      if (target.id !== targetId) return;
      monitor.off("sample", listener);
      resolve({ sample, result });
    };
    monitor.on("sample", listener);
  });
}
