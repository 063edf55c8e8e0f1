/**
 * The network-monitor's fastify app: the shared operational routes, with the probe
 * configuration summarised in `/info`. The dashboard, `/api/services` and the trend endpoints
 * are added by later issues.
 */
import type { BuildContext } from "@mcp-platform/shared";
import { createServiceApp } from "@mcp-platform/shared";
import type { FastifyInstance } from "fastify";
import type { MonitorEnv, MonitorTarget } from "./env";

/** The network-monitor's `/info` `config`. */
export interface MonitorInfo {
  /** `consul` when CONSUL_HTTP_ADDR is set (targets come from its catalog too). */
  readonly discovery: "consul" | "static";
  readonly targets: readonly MonitorTarget[];
  readonly intervalMs: number;
  readonly retentionMinutes: number;
}

/** Summarises the monitor's configuration. */
export function monitorInfo(env: MonitorEnv): MonitorInfo {
  return {
    discovery: env.CONSUL_HTTP_ADDR === undefined ? "static" : "consul",
    targets: env.MONITOR_TARGETS ?? [],
    intervalMs: env.MONITOR_INTERVAL_MS,
    retentionMinutes: env.MONITOR_RETENTION_MINUTES,
  };
}

/** Builds the network-monitor app; never listens (`main.ts` does, through `runService`). */
export function buildApp(options: BuildContext<MonitorEnv>): FastifyInstance {
  const info = monitorInfo(options.env);
  return createServiceApp(options, { details: () => ({ ...info }) });
}
