/**
 * Prometheus metrics (prom-client) for one fastify app.
 *
 * Each app gets its own Registry rather than prom-client's global one, so a process (or a test)
 * can build several apps without "metric already registered" errors. Labels are bounded: the
 * route is fastify's route template (`/service/:name/trend`), never the raw URL, so a scan of
 * random paths cannot create unbounded series.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { collectDefaultMetrics, Histogram, Registry } from "prom-client";

/** Name of the request duration histogram. */
export const HTTP_DURATION_METRIC = "http_request_duration_seconds";

/** Route label for requests that matched no route (404s), so they share one series. */
export const UNMATCHED_ROUTE = "unmatched";

/** Buckets in seconds: quick health probes up to MCP calls that stream for tens of seconds. */
export const HTTP_DURATION_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** Methods kept as their own label value; anything else is counted as `OTHER`. */
const KNOWN_METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
]);

/** Label names of the request duration histogram. */
export type HttpLabel = "method" | "route" | "status_code";

/** The metrics of one app. */
export interface ServiceMetrics {
  /** This app's registry; `/metrics` serves it. */
  readonly registry: Registry;
  /** Request duration by method, route template and status code. */
  readonly httpRequestDuration: Histogram<HttpLabel>;
}

/** Options of `createMetrics`. */
export interface MetricsOptions {
  /** Service name, added as the `service` label to every series. */
  readonly service: string;
}

/**
 * Creates a registry holding Node's default metrics and the HTTP request duration histogram.
 */
export function createMetrics(options: MetricsOptions): ServiceMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: options.service });
  collectDefaultMetrics({ register: registry });
  const httpRequestDuration = new Histogram<HttpLabel>({
    name: HTTP_DURATION_METRIC,
    help: "Duration of HTTP requests in seconds, by method, route template and status code.",
    labelNames: ["method", "route", "status_code"],
    buckets: [...HTTP_DURATION_BUCKETS],
    registers: [registry],
  });
  return { registry, httpRequestDuration };
}

/** The bounded labels of one finished request. */
export function requestLabels(request: FastifyRequest, reply: FastifyReply): Record<HttpLabel, string> {
  const method = request.method.toUpperCase();
  return {
    method: KNOWN_METHODS.has(method) ? method : "OTHER",
    route: request.routeOptions.url ?? UNMATCHED_ROUTE,
    status_code: String(reply.statusCode),
  };
}

/**
 * Observes every response of `app` (and of every plugin registered after this call, since the
 * hook sits on the instance passed in) into the duration histogram.
 */
export function observeHttpRequests(app: FastifyInstance, metrics: ServiceMetrics): void {
  app.addHook("onResponse", async (request, reply) => {
    metrics.httpRequestDuration.observe(requestLabels(request, reply), reply.elapsedTime / 1000);
  });
}
