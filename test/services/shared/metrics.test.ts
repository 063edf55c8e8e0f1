import {
  createMetrics,
  HTTP_DURATION_METRIC,
  observeHttpRequests,
  UNMATCHED_ROUTE,
} from "@mcp-platform/shared";
import Fastify from "fastify";

/** The label sets of the histogram's `_count` series with their counts. */
async function counts(metrics: ReturnType<typeof createMetrics>) {
  const { values } = await metrics.httpRequestDuration.get();
  return values
    .filter((value) => value.metricName === `${HTTP_DURATION_METRIC}_count`)
    .map((value) => ({ labels: value.labels, count: value.value }));
}

describe("createMetrics + observeHttpRequests", () => {
  it("labels requests by route template, never by raw URL, with bounded methods", async () => {
    // GIVEN an app with a parametric route observed into a fresh registry
    const metrics = createMetrics({ service: "test" });
    const app = Fastify();
    observeHttpRequests(app, metrics);
    app.get("/things/:id", async () => ({ ok: true }));
    app.addHttpMethod("PROPFIND");
    app.route({ method: "PROPFIND", url: "/dav", handler: async () => "dav" });

    // WHEN it serves two ids, a 404 and an unusual method
    await app.inject({ method: "GET", url: "/things/1" });
    await app.inject({ method: "GET", url: "/things/2?x=1" });
    await app.inject({ method: "GET", url: "/random/path/123" });
    await app.inject({ method: "PROPFIND", url: "/dav" });
    await app.close();

    // THEN there is one series per route template, status and method class
    expect(await counts(metrics)).toStrictEqual([
      { labels: { method: "GET", route: "/things/:id", status_code: "200" }, count: 2 },
      { labels: { method: "GET", route: UNMATCHED_ROUTE, status_code: "404" }, count: 1 },
      { labels: { method: "OTHER", route: "/dav", status_code: "200" }, count: 1 },
    ]);
  });

  it("keeps each app's metrics in its own registry", async () => {
    // GIVEN two registries
    const first = createMetrics({ service: "one" });
    const second = createMetrics({ service: "two" });

    // WHEN only the first observes a request
    const app = Fastify();
    observeHttpRequests(app, first);
    app.get("/", async () => "hi");
    await app.inject({ method: "GET", url: "/" });
    await app.close();

    // THEN the second is untouched and both carry their service label and Node's default metrics
    expect((await counts(first)).map((series) => series.count)).toStrictEqual([1]);
    expect(await counts(second)).toStrictEqual([]);
    expect(await second.registry.getSingleMetricAsString("process_cpu_user_seconds_total")).toContain(
      'process_cpu_user_seconds_total{service="two"}',
    );
  });
});
