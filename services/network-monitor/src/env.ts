/**
 * The network-monitor's environment (DESIGN.md "How a service is started", network-monitor
 * table), validated at boot so a bad deployment fails at start, and summarised in `/info`.
 *
 * Besides the three documented variables, the probe timeout and concurrency are tunable, and the
 * combination of retention and interval is bounded: history is a fixed-size ring per target
 * (`history.ts`), so the number of samples it must hold is checked here rather than discovered
 * as memory growth in production.
 */
import {
  commonEnvSchema,
  integerField,
  jsonField,
  routerAuthTokensField,
  serviceIdField,
} from "@mcp-platform/shared";
import { z } from "zod";
import { historyCapacity } from "./history";

/** Default monitor port: its published dashboard port (11090–11099 is infrastructure). */
export const MONITOR_DEFAULT_PORT = 11091;

/**
 * Whether `text` is an `http(s)://` URL or a `tcp://host:port` address. Port 0 is refused: no
 * service listens there, so its probe could only ever fail.
 */
export function isProbeUrl(text: string): boolean {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  if (url.port === "0") return false;
  if (url.protocol === "http:" || url.protocol === "https:") return url.hostname !== "";
  // tcp://host:port names a socket, nothing more: a path, query or credentials mean a typo.
  return (
    url.protocol === "tcp:" &&
    url.hostname !== "" &&
    url.port !== "" &&
    (url.pathname === "" || url.pathname === "/") &&
    url.search === "" &&
    url.username === ""
  );
}

/**
 * One extra probe target: a unique name, what to probe, and optionally the service it is an
 * instance of (default: the name), so replicas listed one by one (`router-1`, `router-2`) show as
 * instances of one service and get that service's probes (the MCP probe of `router` and `mcp-*`).
 */
export const MonitorTargetSchema = z.strictObject({
  name: serviceIdField(),
  service: serviceIdField().optional(),
  url: z.string().refine(isProbeUrl, { error: "must be an http(s):// URL or tcp://host:port" }),
});

/** A probe target from `MONITOR_TARGETS`. */
export type MonitorTarget = z.infer<typeof MonitorTargetSchema>;

/** `MONITOR_TARGETS`: the infrastructure list, probed on top of what Consul reports. */
export const MonitorTargetsSchema = z.array(MonitorTargetSchema).superRefine((targets, ctx) => {
  const seen = new Map<string, number>();
  targets.forEach((target, index) => {
    const first = seen.get(target.name);
    if (first === undefined) seen.set(target.name, index);
    else ctx.addIssue({ code: "custom", path: [index, "name"], message: `duplicates [${first}].name` });
  });
});

/** Bounds of `MONITOR_INTERVAL_MS`. */
const INTERVAL_MS = [100, 3_600_000] as const;
/** Bounds of `MONITOR_RETENTION_MINUTES` (a week). */
const RETENTION_MINUTES = [1, 7 * 24 * 60] as const;

/** Whether `value` is an integer within `[min, max]`. */
function inRange(value: unknown, [min, max]: readonly [number, number]): boolean {
  return Number.isInteger(value) && (value as number) >= min && (value as number) <= max;
}

/** Most samples one target's history may hold: retention / interval must stay below this. */
export const MAX_SAMPLES_PER_TARGET = 100_000;

/** Every variable the network-monitor reads. */
export const MonitorEnvSchema = commonEnvSchema({
  port: MONITOR_DEFAULT_PORT,
  serviceName: "network-monitor",
})
  .extend({
    /** Extra targets to probe. */
    MONITOR_TARGETS: jsonField(MonitorTargetsSchema).optional(),
    /** Time between two probes of a target. */
    MONITOR_INTERVAL_MS: integerField(...INTERVAL_MS).default(10_000),
    /** How much probe history is kept per target. */
    MONITOR_RETENTION_MINUTES: integerField(...RETENTION_MINUTES).default(60),
    /** Time one check (TCP connect, HTTP request, MCP exchange) may take before it counts as down. */
    MONITOR_PROBE_TIMEOUT_MS: integerField(50, 60_000).default(2_000),
    /** Targets probed at the same time, so a large catalog does not open every socket at once. */
    MONITOR_PROBE_CONCURRENCY: integerField(1, 256).default(16),
    /**
     * The router's bearer tokens, when the router requires them (the same secret): the MCP probe
     * of `router` instances presents the first, and no other target is sent any.
     */
    ROUTER_AUTH_TOKENS: routerAuthTokensField().optional(),
  })
  .superRefine((env, ctx) => {
    // zod runs this check even when a field failed its own, with the bad value: an interval or
    // retention out of range is reported once, by its own check.
    if (
      !inRange(env.MONITOR_INTERVAL_MS, INTERVAL_MS) ||
      !inRange(env.MONITOR_RETENTION_MINUTES, RETENTION_MINUTES)
    ) {
      return;
    }
    // The same count the histories allocate, so the documented bound is the real one.
    const samples = historyCapacity(env.MONITOR_RETENTION_MINUTES * 60_000, env.MONITOR_INTERVAL_MS);
    if (samples > MAX_SAMPLES_PER_TARGET) {
      ctx.addIssue({
        code: "custom",
        path: ["MONITOR_RETENTION_MINUTES"],
        message:
          `keeps ${samples} samples per target at MONITOR_INTERVAL_MS=${env.MONITOR_INTERVAL_MS}; ` +
          `at most ${MAX_SAMPLES_PER_TARGET}: raise the interval or shorten the retention`,
      });
    }
  });

/** The network-monitor's validated environment. */
export type MonitorEnv = z.infer<typeof MonitorEnvSchema>;
