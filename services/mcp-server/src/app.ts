/**
 * The mcp-server's fastify app: the shared operational routes plus the MCP endpoints
 * (`/mcp`, `/sse`, `/messages`), serving either the built-in diagnostic tools or a bridged stdio
 * MCP server run as a bounded pool of long-lived children.
 */
import type { BuildContext, ShutdownStep } from "@mcp-platform/shared";
import { createMetrics, createServiceApp, Readiness } from "@mcp-platform/shared";
import { startInProcessLink } from "./bridge/in-process-link";
import type { Link } from "./bridge/link";
import { Multiplexer } from "./bridge/multiplexer";
import { LinkPool } from "./bridge/pool";
import type { StdioCommand } from "./bridge/stdio-link";
import { KILL_GRACE_MS, startStdioLink } from "./bridge/stdio-link";
import { createBuiltinServer } from "./builtin-tools";
import { McpMetrics } from "./metrics";
import { mcpRoutes } from "./routes";
import { Sessions } from "./sessions";
import type { FastifyInstance } from "fastify";
import type { McpServerEntry, McpServerEnv } from "./env";

/**
 * The tool set as `/info` shows it. A bridged server's `args` and `env` values are left out:
 * they routinely carry credentials (a database URL argument, a GitHub token), so only the
 * command, the number of arguments and the names of the variables are shown.
 */
export type ToolSetInfo =
  | { readonly kind: "builtin" }
  | {
      readonly kind: "stdio";
      readonly command: string;
      readonly argCount: number;
      readonly envNames: readonly string[];
    };

/** The mcp-server's `/info` `config`. */
export interface McpServerInfo {
  readonly toolSet: ToolSetInfo;
  readonly bridgeProcesses: number;
  /** Names of the server's variables the bridged child also receives (`MCP_BRIDGE_ENV`). */
  readonly bridgeEnv: readonly string[];
  readonly allowedOrigins: readonly string[];
  readonly maxBodyBytes: number;
  readonly maxSessions: number;
}

/** Describes the configured tool set without secret values. */
export function toolSetInfo(entry: McpServerEntry | undefined): ToolSetInfo {
  if (entry === undefined) return { kind: "builtin" };
  return {
    kind: "stdio",
    command: entry.command,
    argCount: entry.args?.length ?? 0,
    envNames: Object.keys(entry.env ?? {}).sort(),
  };
}

/** Summarises the mcp-server's configuration without any secret value. */
export function mcpServerInfo(env: McpServerEnv): McpServerInfo {
  return {
    toolSet: toolSetInfo(env.MCP_SERVER),
    bridgeProcesses: env.MCP_BRIDGE_PROCESSES,
    bridgeEnv: env.MCP_BRIDGE_ENV,
    allowedOrigins: env.MCP_ALLOWED_ORIGINS,
    maxBodyBytes: env.MCP_MAX_BODY_BYTES,
    maxSessions: env.MCP_MAX_SESSIONS,
  };
}

/** How long shutdown waits for forwarded requests to be answered before closing sessions. */
export const DRAIN_REQUESTS_MS = 20_000;
/** Of the shutdown budget, what is kept after the drain: closing sessions, stopping children. */
const AFTER_DRAIN_MS = KILL_GRACE_MS + 2_000;

/**
 * How long shutdown waits for forwarded requests: `DRAIN_REQUESTS_MS`, but never so long that the
 * children could not be stopped gracefully within `SHUTDOWN_TIMEOUT_MS`.
 */
export function drainBudgetMs(shutdownTimeoutMs: number): number {
  return Math.max(0, Math.min(DRAIN_REQUESTS_MS, shutdownTimeoutMs - AFTER_DRAIN_MS));
}
/** A Streamable HTTP session this long without a request (and not in use) is closed. */
export const SESSION_IDLE_MS = 30 * 60_000;
/** Interval of SSE keep-alive comments (clients and balancers give up on silent streams). */
export const KEEP_ALIVE_MS = 15_000;

/**
 * The stdio command a bridged child runs: `MCP_SERVER` with its `env` on top of the variables
 * `MCP_BRIDGE_ENV` names, taken from `environment`. A named variable that is unset is logged once
 * and left out: the child then starts as it would without it.
 */
export function bridgeCommand(
  env: McpServerEnv,
  entry: McpServerEntry,
  environment: Readonly<Record<string, string | undefined>>,
  logger: BuildContext<McpServerEnv>["logger"],
): StdioCommand {
  const passed: Record<string, string> = {};
  const missing: string[] = [];
  for (const name of env.MCP_BRIDGE_ENV) {
    const value = environment[name];
    if (value === undefined) missing.push(name);
    else passed[name] = value;
  }
  if (missing.length > 0) {
    logger.warn(
      { variables: missing },
      "MCP_BRIDGE_ENV names variables that are not set; the child starts without them",
    );
  }
  return { ...entry, env: { ...passed, ...entry.env } };
}

/** The link each pool slot runs: the configured stdio server, or the built-in tools in process. */
function linkStarter(options: BuildContext<McpServerEnv>) {
  const { env, logger } = options;
  const entry = env.MCP_SERVER;
  if (entry === undefined) {
    return (_index: number, generation: number): Promise<Link> =>
      startInProcessLink(`builtin#${generation}`, createBuiltinServer());
  }
  const command = bridgeCommand(env, entry, options.environment ?? process.env, logger);
  return (index: number, generation: number): Link =>
    startStdioLink(`stdio[${index}]#${generation}`, command, logger);
}

/**
 * Builds the mcp-server app; never listens (`main.ts` does, through `runService`). The link pool
 * starts when the app is ready and stops, process groups and all, when it closes.
 */
export function buildApp(options: BuildContext<McpServerEnv>): FastifyInstance {
  const { env, logger } = options;
  const info = mcpServerInfo(options.env);
  const serviceMetrics = createMetrics({ service: env.SERVICE_NAME });
  const metrics = new McpMetrics(serviceMetrics.registry);
  const readiness = new Readiness();
  // The built-in set is one in-process server; a stdio server runs MCP_BRIDGE_PROCESSES children.
  const size = env.MCP_SERVER === undefined ? 1 : env.MCP_BRIDGE_PROCESSES;
  const pool: LinkPool = new LinkPool({
    size,
    start: linkStarter(options),
    logger,
    initialBackoffMs: env.MCP_BRIDGE_BACKOFF_MS,
    ...(env.MCP_BRIDGE_CONCURRENCY === undefined ? {} : { perLinkLimit: env.MCP_BRIDGE_CONCURRENCY }),
    maxBackoffMs: Math.max(env.MCP_BRIDGE_BACKOFF_MS, 10_000),
    onSlotUp: (slot) => {
      slot.link.onmessage = (message) => mux.handleLink(slot, message);
      metrics.linksUp.set(pool.upCount);
    },
    onSlotDown: (slot, cause) => {
      mux.handleLinkDown(slot, cause);
      metrics.linksUp.set(pool.upCount);
    },
    onRestart: () => metrics.restarts.inc(),
    onQueueDepth: (depth) => metrics.queueDepth.set(depth),
  });
  const mux = new Multiplexer(pool, logger, metrics);
  readiness.addCheck("tool-server", () => ({
    ok: pool.upCount > 0,
    detail: `${pool.upCount} of ${size} tool server process(es) up`,
  }));
  const sessions = new Sessions({
    mux,
    metrics,
    logger,
    idleTimeoutMs: SESSION_IDLE_MS,
    maxSessions: env.MCP_MAX_SESSIONS,
    keepAliveMs: KEEP_ALIVE_MS,
  });

  // On SIGTERM, before the server closes (fastify's own close hooks time out after 10 s): let
  // forwarded requests be answered, within what the shutdown budget leaves for stopping the
  // children, then close the sessions, which answers what is left with an error.
  const drainMs = drainBudgetMs(env.SHUTDOWN_TIMEOUT_MS);
  const settleRequests: ShutdownStep = {
    name: "requests",
    run: async (signal) => {
      const idle = await mux.waitIdle(drainMs, signal);
      if (!idle) logger.warn({ inFlight: mux.inFlight }, "closing sessions with requests still in flight");
      await sessions.closeAll();
    },
  };
  const app = createServiceApp(options, {
    bodyLimit: env.MCP_MAX_BODY_BYTES,
    details: () => ({ ...info, processesUp: pool.upCount, sessions: sessions.size }),
    metrics: serviceMetrics,
    readiness,
    beforeClose: [settleRequests],
  });
  void app.register(mcpRoutes, {
    sessions,
    allowedOrigins: env.MCP_ALLOWED_ORIGINS,
    allowedHosts: env.MCP_ALLOWED_HOSTS,
    maxBodyBytes: env.MCP_MAX_BODY_BYTES,
  });
  // Started once listening, not awaited: the service reports not ready until a link is up, and
  // an app that never listens (inject in tests) starts no process.
  app.addHook("onListen", async () => void pool.start());
  // A close without the shutdown steps (tests) still ends every session's streams first.
  app.addHook("preClose", async () => sessions.closeAll());
  app.addHook("onClose", async () => pool.close());
  return app;
}
