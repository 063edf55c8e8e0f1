/**
 * The fastify instance every service starts from: explicit HTTP timeouts, a body limit, a 503 for
 * requests that arrive while closing, and the health/metrics/info plugin already registered.
 *
 * Each service's `buildApp` calls `createServiceApp` and adds its own routes; it never listens
 * (`runService` does), so tests can drive it with `app.inject()`.
 */
import Fastify, { LogController } from "fastify";
import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { CommonEnv } from "./env";
import { DEFAULT_MAX_BODY_BYTES } from "./env";
import { healthPlugin, Readiness } from "./health";
import { loggableUrl } from "./logger";
import { createMetrics } from "./metrics";
import type { ServiceMetrics } from "./metrics";
import type { ShutdownStep } from "./shutdown";

declare module "fastify" {
  interface FastifyInstance {
    /** The service's own shutdown steps, run after deregistration and before the close. */
    beforeClose: readonly ShutdownStep[];
  }
}

/**
 * HTTP server timeouts.
 *
 * - `connectionTimeoutMs`: a socket idle this long is closed. MCP SSE streams send keep-alives
 *   well within it, so only dead peers are cut.
 * - `requestTimeoutMs`: the whole request (headers and body) must arrive within it, which
 *   bounds slow-loris clients. It does not limit how long a response may stream.
 * - `keepAliveTimeoutMs`: idle keep-alive sockets are kept longer than a balancer's usual 60 s, so
 *   the balancer, not the service, closes them, avoiding the race on a reused closed socket.
 */
export const HTTP_TIMEOUTS = {
  connectionTimeoutMs: 120_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 65_000,
} as const;

/** What every service app is built from: its environment, logger and version. */
export interface ServiceAppContext {
  /** The validated environment; SERVICE_NAME and PORT are used here. */
  readonly env: CommonEnv;
  /** The service logger (`createLogger`). */
  readonly logger: Logger;
  /** Service version. */
  readonly version: string;
}

/** Per-service options of `createServiceApp`. */
export interface ServiceAppOptions {
  /** Maximum request body in bytes; `DEFAULT_MAX_BODY_BYTES` when unset. */
  readonly bodyLimit?: number;
  /** Secret-free configuration summary served as `/info`'s `config`. */
  readonly details?: () => Record<string, unknown>;
  /** The service's metrics, when it registers its own next to the HTTP ones. */
  readonly metrics?: ServiceMetrics;
  /** The service's readiness, when it adds its own checks. */
  readonly readiness?: Readiness;
  /**
   * Steps of the graceful shutdown that belong to the service (the router's drain): run in
   * order once the instance is not ready and deregistered, before the server closes.
   */
  readonly beforeClose?: readonly ShutdownStep[];
}

/**
 * Creates the service's fastify instance with the shared health plugin registered. The instance
 * is decorated with `readiness` once ready (`await app.ready()`).
 */
export function createServiceApp(
  context: ServiceAppContext,
  options: ServiceAppOptions = {},
): FastifyInstance {
  const { env } = context;
  // Typed as fastify's base logger so the app is a plain `FastifyInstance` that every helper
  // (and every service's routes) can take without carrying pino's type parameter around.
  const loggerInstance: FastifyBaseLogger = context.logger;
  const app = Fastify({
    loggerInstance,
    bodyLimit: options.bodyLimit ?? DEFAULT_MAX_BODY_BYTES,
    connectionTimeout: HTTP_TIMEOUTS.connectionTimeoutMs,
    requestTimeout: HTTP_TIMEOUTS.requestTimeoutMs,
    keepAliveTimeout: HTTP_TIMEOUTS.keepAliveTimeoutMs,
    // While closing, answer new requests on kept-alive sockets with 503 instead of serving them,
    // and close idle sockets at once so draining only waits for real in-flight work.
    return503OnClosing: true,
    forceCloseConnections: "idle",
    // Two info lines per request cost more than the request on the hot MCP path; requests are
    // logged once, at debug, and failures at warn/error (below). HAProxy keeps access logs.
    logController: new LogController({ disableRequestLogging: true }),
    // No child logger per request: building one (bindings, redaction) costs a few percent of a
    // quick call. The few request logs name the request id themselves.
    childLoggerFactory: (logger) => logger,
  });
  // DELETE carries no body (MCP's DELETE /mcp ends a session, nothing else here takes one): its
  // body, if a client sends one, is never parsed, so no Content-Type can make DELETE fail.
  app.addHttpMethod("DELETE", { hasBody: false, overrideExisting: true });
  app.decorate("beforeClose", options.beforeClose ?? []);
  app.addHook("onResponse", async (request, reply) => {
    const status = reply.statusCode;
    const fields = {
      reqId: request.id,
      method: request.method,
      url: loggableUrl(request.url),
      status,
      ms: reply.elapsedTime,
    };
    // 503 is deliberate (not ready, closing) and logged where it is decided.
    if (status >= 500 && status !== 503) request.log.error(fields, "request failed");
    else if (status >= 400 && status !== 503) request.log.warn(fields, "request refused");
    else request.log.debug(fields, "request completed");
  });
  void app.register(healthPlugin, {
    service: env.SERVICE_NAME,
    version: context.version,
    port: env.PORT,
    metrics: options.metrics ?? createMetrics({ service: env.SERVICE_NAME }),
    readiness: options.readiness ?? new Readiness(),
    ...(options.details === undefined ? {} : { details: options.details }),
  });
  return app;
}
