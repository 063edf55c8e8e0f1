/**
 * The monitor's JSON API (DESIGN.md "network-monitor"):
 *
 * - `GET /api/services`: the current state of every service and instance (`ServicesView`).
 * - `GET /service/:name/trend?minutes=N`: availability %, p50/p95 latency and sample count of a
 *   service over the last N minutes (1 ≤ N ≤ retention; default 15 or the retention if shorter),
 *   plus a series for the chart (`ServiceTrend`). 404 for a service with no target or history.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { integerField } from "@mcp-platform/shared";
import type { Monitor } from "./monitor";

/** Default trend window in minutes. */
export const DEFAULT_TREND_MINUTES = 15;

/** The trend route's query, for a given retention. */
export function trendQuerySchema(retentionMinutes: number) {
  return z.object({
    minutes: integerField(1, retentionMinutes).default(Math.min(DEFAULT_TREND_MINUTES, retentionMinutes)),
  });
}

/** Registers the API routes of `monitor`. */
export function registerApiRoutes(app: FastifyInstance, monitor: Monitor, retentionMinutes: number): void {
  const TrendQuery = trendQuerySchema(retentionMinutes);

  app.get("/api/services", async (_request, reply) => {
    return reply.header("cache-control", "no-store").send(monitor.view());
  });

  app.get<{ Params: { name: string }; Querystring: Record<string, string> }>(
    "/service/:name/trend",
    async (request, reply) => {
      const query = TrendQuery.safeParse(request.query);
      if (!query.success) {
        const message = query.error.issues
          .map((issue) => `${issue.path.join(".")} ${issue.message}`)
          .join("; ");
        return reply.code(400).send({ error: message });
      }
      const trend = monitor.trend(request.params.name, query.data.minutes);
      if (trend === undefined) return reply.code(404).send({ error: "unknown service" });
      return reply.header("cache-control", "no-store").send(trend);
    },
  );
}
