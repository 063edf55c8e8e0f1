/**
 * The network-monitor's fastify app: the shared operational routes, the JSON API, the dashboard,
 * and the monitor behind them (DESIGN.md "network-monitor").
 *
 * Targets are `MONITOR_TARGETS` (plus Consul itself when discovering from it) and, when
 * CONSUL_HTTP_ADDR is set, every instance of every service in the Consul catalog, followed as it
 * changes. Probing and discovery start when the app is ready and stop when it closes, so
 * `runService`'s graceful shutdown ends them too.
 */
import type { BuildContext } from "@mcp-platform/shared";
import { createMetrics, createServiceApp, redactUrl } from "@mcp-platform/shared";
import type { FastifyInstance } from "fastify";
import type { Dispatcher } from "undici";
import { Agent } from "undici";
import { registerApiRoutes } from "./api-routes";
import type { Clock } from "./clock";
import { systemClock } from "./clock";
import { dashboardPlugin } from "./dashboard";
import type { DiscoveryOptions } from "./discovery";
import { ConsulDiscovery } from "./discovery";
import type { MonitorEnv, MonitorTarget } from "./env";
import { Monitor } from "./monitor";
import type { Prober } from "./probes";
import { consulTarget, staticTargets } from "./targets";

/** The network-monitor's `/info` `config`. */
export interface MonitorInfo {
  /** `consul` when CONSUL_HTTP_ADDR is set (targets come from its catalog too). */
  readonly discovery: "consul" | "static";
  readonly targets: readonly MonitorTarget[];
  readonly intervalMs: number;
  readonly retentionMinutes: number;
  readonly probeTimeoutMs: number;
  readonly probeConcurrency: number;
  /** Whether routers are probed with a bearer token (the token itself is never shown). */
  readonly routerToken: boolean;
}

/** Summarises the monitor's configuration. */
export function monitorInfo(env: MonitorEnv): MonitorInfo {
  return {
    discovery: env.CONSUL_HTTP_ADDR === undefined ? "static" : "consul",
    // A health URL may carry credentials (http://user:pass@host/...): /info never shows them.
    targets: (env.MONITOR_TARGETS ?? []).map((target) => ({ ...target, url: redactUrl(target.url) })),
    intervalMs: env.MONITOR_INTERVAL_MS,
    retentionMinutes: env.MONITOR_RETENTION_MINUTES,
    probeTimeoutMs: env.MONITOR_PROBE_TIMEOUT_MS,
    probeConcurrency: env.MONITOR_PROBE_CONCURRENCY,
    routerToken: env.ROUTER_AUTH_TOKENS !== undefined,
  };
}

/** What tests (and only tests) replace. */
export interface MonitorAppOptions {
  /** Clock of probes, timeouts and discovery waits; the system clock by default. */
  readonly clock?: Clock;
  /**
   * Whether probing runs on a timer once the app is ready (default true). Tests that drive
   * rounds themselves with `monitor.tick()` turn it off.
   */
  readonly schedule?: boolean;
  /** Replaces the checks (default: TCP, HTTP and MCP probes). */
  readonly prober?: Prober;
  /** Discovery tuning: blocking wait, gap between syncs, backoff. */
  readonly discovery?: Pick<DiscoveryOptions, "waitSeconds" | "minGapMs" | "backoff" | "requestTimeoutMs">;
}

/** The app and the monitor inside it. */
export interface MonitorApp {
  readonly app: FastifyInstance;
  readonly monitor: Monitor;
  /** Present when CONSUL_HTTP_ADDR is set. */
  readonly discovery: ConsulDiscovery | undefined;
}

/** Builds the app and its monitor; never listens, and starts probing only once ready. */
export function buildMonitorApp(
  context: BuildContext<MonitorEnv>,
  options: MonitorAppOptions = {},
): MonitorApp {
  const { env, logger } = context;
  const clock = options.clock ?? systemClock;
  const metrics = createMetrics({ service: env.SERVICE_NAME });
  const info = monitorInfo(env);
  const app = createServiceApp(context, { metrics, details: () => ({ ...info }) });
  // The probes' connections: as many per host and port as probes may run at once, so a probe
  // never waits for a connection behind others to the same address (targets that hang there
  // would make it time out unsent). Discovery has its own pool (its reads are bounded by its own
  // limiter), so Consul reads never queue behind probes either. Both close with the app.
  const dispatcher: Dispatcher = new Agent({
    keepAliveTimeout: 10_000,
    connections: env.MONITOR_PROBE_CONCURRENCY,
  });
  const discoveryDispatcher: Dispatcher = new Agent({ keepAliveTimeout: 10_000 });
  const monitor = new Monitor({
    intervalMs: env.MONITOR_INTERVAL_MS,
    retentionMinutes: env.MONITOR_RETENTION_MINUTES,
    probeTimeoutMs: env.MONITOR_PROBE_TIMEOUT_MS,
    concurrency: env.MONITOR_PROBE_CONCURRENCY,
    clock,
    logger,
    version: context.version,
    registry: metrics.registry,
    dispatcher,
    ...(env.ROUTER_AUTH_TOKENS?.[0] === undefined ? {} : { routerToken: env.ROUTER_AUTH_TOKENS[0] }),
    ...(options.prober === undefined ? {} : { prober: options.prober }),
  });
  monitor.setTargets("static", staticTargets(env.MONITOR_TARGETS ?? [], env.CONSUL_HTTP_ADDR));

  const discovery =
    env.CONSUL_HTTP_ADDR === undefined
      ? undefined
      : new ConsulDiscovery({
          address: env.CONSUL_HTTP_ADDR,
          token: env.CONSUL_HTTP_TOKEN,
          logger,
          clock,
          dispatcher: discoveryDispatcher,
          ...options.discovery,
        });
  discovery?.on("synced", (instances) => monitor.setTargets("consul", instances.map(consulTarget)));

  registerApiRoutes(app, monitor, env.MONITOR_RETENTION_MINUTES);
  void app.register(dashboardPlugin);

  app.addHook("onReady", async () => {
    discovery?.start();
    if (options.schedule !== false) monitor.start();
  });
  app.addHook("onClose", async () => {
    await Promise.all([discovery?.stop(), monitor.stop()]);
    await Promise.all([dispatcher.destroy(), discoveryDispatcher.destroy()]);
  });
  return { app, monitor, discovery };
}

/** Builds the network-monitor app (`runService`'s entry); see `buildMonitorApp`. */
export function buildApp(context: BuildContext<MonitorEnv>): FastifyInstance {
  return buildMonitorApp(context).app;
}
