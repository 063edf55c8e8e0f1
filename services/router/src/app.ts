/**
 * The router's fastify app: the MCP gateway (DESIGN "router") on top of the shared operational
 * routes.
 *
 * - `/mcp`, `/sse` + `/messages`: the merged catalog of every MCP service (`gateway-routes`,
 *   `sse-routes`).
 * - `/services/<name>/mcp`: one service, transparently (`passthrough-routes`).
 * - `/.well-known/oauth-protected-resource`: what clients probe before connecting (`auth`).
 * - `/internal/v1/*`: what replicas ask each other (`internal-routes`).
 *
 * Discovery (Consul and/or static) feeds the upstream instances; the catalog lists them; no
 * client session state lives in the replica, so any replica serves any request.
 */
import type { BuildContext, ShutdownStep } from "@mcp-platform/shared";
import {
  createMetrics,
  createServiceApp,
  mcpBodyRules,
  mcpCors,
  Readiness,
  redactUrl,
  RequestGuard,
  resolveAdvertiseAddress,
  urlHost,
} from "@mcp-platform/shared";
import type { FastifyInstance } from "fastify";
import type { AddressInfo } from "node:net";
import { Catalog } from "./catalog/catalog";
import type { WatchTiming } from "./discovery/consul-watch";
import { Discovery } from "./discovery/discovery";
import type { RouterEnv, StaticServices } from "./env";
import { BearerAuth, protectedResourceRoutes } from "./http/auth";
import { ClientStreams } from "./http/client-streams";
import { DrainGate } from "./http/drain";
import type { RouterContext } from "./http/context";
import { gatewayRoutes } from "./http/gateway-routes";
import { internalRoutes } from "./http/internal-routes";
import { passthroughRoutes, RelayedStreams } from "./http/passthrough-routes";
import { Peers } from "./http/peers";
import { SseSessions, sseRoutes } from "./http/sse-routes";
import { StreamLimit } from "./http/stream-limit";
import { GatewayHandler } from "./mcp/gateway-handler";
import { InFlight } from "./mcp/in-flight";
import { RouterMetrics } from "./metrics";
import { ephemeralSecret, SessionSealer } from "./session-token";
import { Upstreams } from "./upstream/upstreams";

/** The router's `/info` `config`: what it was configured with, secrets reduced to facts. */
export interface RouterInfo {
  /** `consul` when CONSUL_HTTP_ADDR is set; static services are used either way. */
  readonly discovery: "consul" | "static";
  readonly staticServices: StaticServices;
  readonly sessionKeyConfigured: boolean;
  /** How many `ROUTER_SESSION_ACCEPTED_KEYS` there are (a rotation in progress when > 0). */
  readonly acceptedSessionKeyCount: number;
  readonly authTokenCount: number;
  readonly allowedOrigins: readonly string[];
  readonly maxBodyBytes: number;
  readonly maxStreams: number;
}

/** Summarises the router's configuration without any secret value. */
export function routerInfo(env: RouterEnv): RouterInfo {
  return {
    discovery: env.CONSUL_HTTP_ADDR === undefined ? "static" : "consul",
    // A URL may carry credentials: shown without them.
    staticServices: Object.fromEntries(
      Object.entries(env.ROUTER_STATIC_SERVICES ?? {}).map(([service, urls]) => [
        service,
        urls.map(redactUrl),
      ]),
    ),
    sessionKeyConfigured: env.ROUTER_SESSION_KEY !== undefined,
    acceptedSessionKeyCount: env.ROUTER_SESSION_ACCEPTED_KEYS.length,
    authTokenCount: env.ROUTER_AUTH_TOKENS?.length ?? 0,
    allowedOrigins: env.MCP_ALLOWED_ORIGINS,
    maxBodyBytes: env.MCP_MAX_BODY_BYTES,
    maxStreams: env.ROUTER_MAX_STREAMS,
  };
}

/** Interval of SSE keep-alive comments (clients and balancers give up on silent streams). */
export const KEEP_ALIVE_MS = 15_000;
/** How long shutdown waits for calls in flight before ending them and the streams. */
export const DRAIN_CALLS_MS = 12_000;
/** How long the calls shutdown ended get to send their error before the streams end. */
const ANSWER_ENDED_CALLS_MS = 2_000;

/** Test seams: Consul timings, the keep-alive interval, the wait for calls at shutdown. */
export interface RouterOverrides {
  readonly watchTiming?: Partial<WatchTiming>;
  readonly keepAliveMs?: number;
  readonly drainCallsMs?: number;
}

/** This replica's base URL as peers reach it. */
function selfUrl(env: RouterEnv, port: number): string {
  let host = "127.0.0.1";
  try {
    host = resolveAdvertiseAddress({ serviceAddress: env.SERVICE_ADDRESS, host: env.HOST });
  } catch {
    // No routable interface: peers cannot reach this replica anyway; loopback keeps it local.
  }
  return `http://${urlHost(host)}:${port}`;
}

/**
 * Builds the router app; never listens (`main.ts` does, through `runService`). Discovery and the
 * catalog start once the app listens and stop when it closes.
 */
export function buildApp(options: BuildContext<RouterEnv>, overrides: RouterOverrides = {}): FastifyInstance {
  const { env, logger } = options;
  const info = routerInfo(env);
  const serviceMetrics = createMetrics({ service: env.SERVICE_NAME });
  const metrics = new RouterMetrics(serviceMetrics.registry);
  const readiness = new Readiness();
  if (env.ROUTER_SESSION_KEY === undefined) {
    logger.warn(
      "ROUTER_SESSION_KEY is unset: sessions are sealed with a random key and only this replica can serve them",
    );
  }
  const sealer = new SessionSealer({
    secret: env.ROUTER_SESSION_KEY ?? ephemeralSecret(),
    acceptedSecrets: env.ROUTER_SESSION_ACCEPTED_KEYS,
    ttlSeconds: env.ROUTER_SESSION_TTL_SECONDS,
  });
  const discovery = new Discovery({
    logger,
    ...(env.ROUTER_STATIC_SERVICES === undefined ? {} : { staticServices: env.ROUTER_STATIC_SERVICES }),
    staticPeers: env.ROUTER_PEERS,
    ...(env.CONSUL_HTTP_ADDR === undefined
      ? {}
      : {
          consul: {
            address: env.CONSUL_HTTP_ADDR,
            token: env.CONSUL_HTTP_TOKEN,
            selfName: env.SERVICE_NAME,
            ...(overrides.watchTiming === undefined ? {} : { timing: overrides.watchTiming }),
          },
        }),
    onConsulError: () => metrics.discoveryErrors.inc(),
  });
  const upstreams = new Upstreams({
    logger,
    metrics,
    ejection: {
      failuresToEject: env.ROUTER_EJECT_AFTER_FAILURES,
      baseMs: env.ROUTER_EJECT_BASE_MS,
      maxMs: 30_000,
    },
  });
  const catalog = new Catalog({ upstreams, logger, metrics, refreshMs: env.ROUTER_CATALOG_REFRESH_MS });
  const peers = new Peers({ sealer, logger, metrics });
  const drain = new DrainGate({ quietMs: env.ROUTER_DRAIN_QUIET_MS, maxMs: env.ROUTER_DRAIN_MAX_MS });
  const context: RouterContext = {
    drain,
    sealer,
    catalog,
    upstreams,
    metrics,
    logger,
    peers,
    inFlight: new InFlight(),
    streams: new ClientStreams({ keepAliveMs: overrides.keepAliveMs ?? KEEP_ALIVE_MS, metrics }),
    streamLimit: new StreamLimit(env.ROUTER_MAX_STREAMS, metrics),
    keepAliveMs: overrides.keepAliveMs ?? KEEP_ALIVE_MS,
    handler: new GatewayHandler({
      catalog,
      upstreams,
      logger,
      callTimeoutMs: env.ROUTER_CALL_TIMEOUT_MS,
      callMaxMs: env.ROUTER_CALL_MAX_MS,
      version: options.version,
    }),
  };
  const sse = new SseSessions(context);

  // Services that gain or lose their last instance are listed or dropped by the catalog itself
  // (availability events); the first view makes it list everything once, to become ready.
  discovery.on("changed", (view) => {
    upstreams.update(view.services);
    peers.update(view.peers);
    if (!catalog.ready) void catalog.sync();
  });
  catalog.on("changed", (lists) => {
    for (const list of lists) {
      const notification = { jsonrpc: "2.0" as const, method: `notifications/${list}/list_changed` };
      context.streams.broadcast(notification);
      sse.broadcast(notification);
    }
  });
  readiness.addCheck("discovery", () => ({
    ok: discovery.current !== undefined,
    detail: discovery.current === undefined ? "waiting for the first discovery answer" : "ok",
  }));
  readiness.addCheck("catalog", () => ({
    ok: catalog.ready,
    detail: catalog.ready ? `${catalog.current.tools.length} tools` : "listing services",
  }));

  // Every long-lived response this replica holds; ended once calls are done, so their clients
  // reconnect elsewhere and the server can close.
  const relays = new RelayedStreams();
  context.streamLimit.count(() => context.streams.size);
  context.streamLimit.count(() => sse.size);
  context.streamLimit.count(() => relays.getStreams);
  const endStreams = () => {
    context.streams.closeAll();
    sse.closeAll();
    relays.closeAll();
  };
  // After the drain (readiness false, the balancers gone), before the server closes: while
  // fastify still serves, peers can still hand this replica the cancellations and legacy SSE
  // messages of the calls it runs (a closing fastify answers 503), and its own close hooks,
  // which time out after 10 s, wait for nothing.
  const settleCalls: ShutdownStep = {
    name: "calls",
    run: async (signal) => {
      const idle = await context.inFlight.waitIdle(overrides.drainCallsMs ?? DRAIN_CALLS_MS, signal);
      if (!idle) {
        // Ended, answered with an error (their clients retry elsewhere) and cancelled upstream,
        // not left to run on until the deadline resets their connections unanswered.
        const ended = context.inFlight.endAll();
        logger.warn({ inFlight: ended }, "closing with calls still in flight; ending them");
        await context.inFlight.waitIdle(ANSWER_ENDED_CALLS_MS, signal);
      }
      endStreams();
    },
  };
  const app = createServiceApp(options, {
    bodyLimit: env.MCP_MAX_BODY_BYTES,
    details: () => ({
      ...info,
      services: upstreams.availableServices(),
      tools: catalog.current.tools.length,
      inFlight: context.inFlight.size,
      streams: context.streams.size,
      sseSessions: sse.size,
      passthroughStreams: relays.getStreams,
    }),
    metrics: serviceMetrics,
    readiness,
    beforeClose: [drain.shutdownStep, settleCalls],
  });
  drain.install(app);
  const auth = new BearerAuth(env.ROUTER_AUTH_TOKENS ?? []);
  void app.register(async (mcp) => {
    const guard = new RequestGuard({
      allowedOrigins: env.MCP_ALLOWED_ORIGINS,
      allowedHosts: env.MCP_ALLOWED_HOSTS,
    });
    // CORS first: a browser's preflight carries no token, so it is answered before auth runs.
    await mcpCors(mcp, guard);
    mcp.addHook("onRequest", guard.hook());
    mcp.addHook("onRequest", auth.hook());
    protectedResourceRoutes(mcp, auth);
    mcpBodyRules(mcp, env.MCP_MAX_BODY_BYTES);
    gatewayRoutes(mcp, context);
    sseRoutes(mcp, context, sse);
    passthroughRoutes(mcp, context, relays);
  });
  void app.register(internalRoutes, { context, sse });

  app.addHook("onListen", async () => {
    peers.selfUrl = selfUrl(env, (app.server.address() as AddressInfo).port);
    discovery.start();
    catalog.start();
  });
  // A close without the shutdown steps (tests) still ends the streams, or it would wait on them.
  app.addHook("preClose", async () => endStreams());
  app.addHook("onClose", async () => {
    catalog.stop();
    await discovery.stop();
    await upstreams.close();
    peers.close();
  });
  return app;
}
