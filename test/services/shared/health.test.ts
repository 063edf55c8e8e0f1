import { hostname } from "node:os";
import type { FastifyInstance } from "fastify";
import Fastify from "fastify";
import {
  commonEnvSchema,
  createMetrics,
  createServiceApp,
  healthPlugin,
  loadEnv,
  Readiness,
} from "@mcp-platform/shared";
import { capturingLogger, fields, silentLogger } from "../../helpers/log-capture";

const env = loadEnv(commonEnvSchema({ port: 8080, serviceName: "mcp-server" }), {
  SERVICE_NAME: "mcp-files",
  PORT: "11101",
  LOG_LEVEL: "silent",
});

async function get(app: FastifyInstance, url: string) {
  const response = await app.inject({ method: "GET", url });
  return { status: response.statusCode, body: response.json() as unknown };
}

describe("health plugin (through createServiceApp)", () => {
  let app: FastifyInstance;

  beforeEach(async () => {
    app = createServiceApp(
      { env, logger: silentLogger(), version: "1.2.3" },
      { details: () => ({ toolSet: "builtin" }) },
    );
    await app.ready();
  });

  afterEach(async () => {
    await app.close();
  });

  it("answers /health/live with 200 while the process runs", async () => {
    // GIVEN a shutting-down app (liveness must not restart an instance that is draining)
    app.readiness.markShuttingDown();

    // WHEN / THEN
    expect(await get(app, "/health/live")).toStrictEqual({ status: 200, body: { status: "ok" } });
  });

  it("flips /health/ready with its checks, naming the failed one", async () => {
    // GIVEN a check whose result the test controls
    let bridgeUp = false;
    app.readiness.addCheck("bridge", () => (bridgeUp ? true : { ok: false, detail: "starting" }));

    // WHEN probed while the check fails, then after it passes
    const before = await get(app, "/health/ready");
    bridgeUp = true;
    const after = await get(app, "/health/ready");

    // THEN 503 naming the check, then 200
    expect(before).toStrictEqual({
      status: 503,
      body: {
        status: "not_ready",
        checks: { bridge: { ok: false, detail: "starting" } },
        failed: ["bridge"],
      },
    });
    expect(after).toStrictEqual({
      status: 200,
      body: { status: "ok", checks: { bridge: { ok: true } }, failed: [] },
    });
  });

  it("answers /health/ready with 503 once shutting down", async () => {
    // GIVEN a ready app / WHEN it starts shutting down
    app.readiness.markShuttingDown();

    // THEN
    expect(await get(app, "/health/ready")).toStrictEqual({
      status: 503,
      body: { status: "shutting_down", checks: {}, failed: [] },
    });
  });

  it("summarises the service in /health", async () => {
    // GIVEN / WHEN
    const response = await app.inject({ method: "GET", url: "/health" });

    // THEN the instance id uses the configured port (the app is not listening)
    expect(response.statusCode).toStrictEqual(200);
    expect(response.headers["cache-control"]).toStrictEqual("no-store");
    expect(response.json()).toStrictEqual({
      service: "mcp-files",
      version: "1.2.3",
      instanceId: `mcp-files-${hostname()}-11101`,
      status: "ok",
      checks: {},
      failed: [],
    });
  });

  it("serves Prometheus text with the request histogram", async () => {
    // GIVEN one request already served
    await app.inject({ method: "GET", url: "/health/live" });

    // WHEN /metrics is scraped
    const response = await app.inject({ method: "GET", url: "/metrics" });

    // THEN the histogram holds that request under its route template
    const lines = response.body.split("\n");
    expect(response.headers["content-type"]).toStrictEqual("text/plain; version=0.0.4; charset=utf-8");
    expect(lines.filter((line) => line.startsWith("# TYPE http_request_duration_seconds"))).toStrictEqual([
      "# TYPE http_request_duration_seconds histogram",
    ]);
    expect(lines.filter((line) => line.startsWith("http_request_duration_seconds_count"))).toStrictEqual([
      'http_request_duration_seconds_count{service="mcp-files",method="GET",route="/health/live",status_code="200"} 1',
    ]);
  });

  it("rejects a body over the limit with 413", async () => {
    // GIVEN an app with a 1 KiB body limit and a POST route
    const small = createServiceApp({ env, logger: silentLogger(), version: "1.2.3" }, { bodyLimit: 1024 });
    small.post("/echo", async (request) => request.body);

    // WHEN a 2 KiB JSON body is posted
    const response = await small.inject({
      method: "POST",
      url: "/echo",
      headers: { "content-type": "application/json" },
      payload: JSON.stringify({ data: "x".repeat(2048) }),
    });
    await small.close();

    // THEN
    expect(response.statusCode).toStrictEqual(413);
  });
});

describe("the request log of createServiceApp", () => {
  it("names a refused request's URL without the session ids in its query", async () => {
    // GIVEN an app logging to a capture
    const { logger, lines } = capturingLogger();
    const logged = createServiceApp({ env, logger, version: "1.2.3" });

    // WHEN a request naming a legacy SSE session in its query is refused (no such route)
    await logged.inject({ method: "POST", url: "/messages?s=v1.sealed&sessionId=abc&x=1" });
    await logged.close();

    // THEN its log line names the path and the harmless parameters only
    expect(fields(lines, ["msg", "url", "status"]).filter((l) => l.msg === "request refused")).toStrictEqual([
      { msg: "request refused", url: "/messages?s=[redacted]&sessionId=[redacted]&x=1", status: 404 },
    ]);
  });
});

describe("health plugin /info", () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it("reports name, version, instance, Node version, start time, uptime and config", async () => {
    // GIVEN a clock at 12:00:00 and a process started 90.5 s earlier (only Date is faked)
    jest.useFakeTimers({
      doNotFake: [
        "nextTick",
        "setImmediate",
        "clearImmediate",
        "setTimeout",
        "clearTimeout",
        "setInterval",
        "clearInterval",
        "queueMicrotask",
        "hrtime",
        "performance",
      ],
      now: new Date("2026-01-01T12:00:00.000Z"),
    });
    const app = Fastify();
    await app.register(healthPlugin, {
      service: "router",
      version: "0.1.0",
      port: 3000,
      metrics: createMetrics({ service: "router" }),
      readiness: new Readiness(),
      details: () => ({ discovery: "static" }),
      startedAt: new Date("2026-01-01T11:58:29.500Z"),
    });

    // WHEN /info is requested
    const response = await app.inject({ method: "GET", url: "/info" });
    await app.close();

    // THEN
    expect(response.json()).toStrictEqual({
      service: "router",
      version: "0.1.0",
      instanceId: `router-${hostname()}-3000`,
      node: process.version,
      startedAt: "2026-01-01T11:58:29.500Z",
      uptimeSeconds: 90,
      config: { discovery: "static" },
    });
  });

  it("logs a readiness check that throws, with the error", async () => {
    // GIVEN an app whose check throws, logging to a capture
    const { logger, lines } = capturingLogger("warn");
    const app = createServiceApp({ env, logger, version: "1.2.3" });
    await app.ready();
    app.readiness.addCheck("db", () => {
      throw new Error("connect ECONNREFUSED");
    });

    // WHEN probed
    const response = await app.inject({ method: "GET", url: "/health/ready" });
    await app.close();

    // THEN the answer hides the error and the log has it
    expect(response.json()).toStrictEqual({
      status: "not_ready",
      checks: { db: { ok: false, detail: "check threw an error" } },
      failed: ["db"],
    });
    expect(fields(lines, ["level", "msg", "check"])).toStrictEqual([
      { level: "warn", msg: "readiness check threw", check: "db" },
    ]);
    expect((lines[0]?.err as { message: string }).message).toStrictEqual("connect ECONNREFUSED");
  });
});

describe("Readiness", () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it("is ok with no checks and reports every check in registration order", async () => {
    // GIVEN checks in the shorthand and the full form, one failing
    const readiness = new Readiness();
    const empty = await readiness.evaluate();
    readiness.addCheck("bridge", () => ({ ok: false, detail: "child exited; restarting" }));
    readiness.addCheck("catalog", async () => true);

    // WHEN evaluated
    const report = await readiness.evaluate();

    // THEN
    expect(empty).toStrictEqual({ status: "ok", checks: {}, failed: [] });
    expect(report).toStrictEqual({
      status: "not_ready",
      checks: { bridge: { ok: false, detail: "child exited; restarting" }, catalog: { ok: true } },
      failed: ["bridge"],
    });
  });

  it("reports shutting_down once marked, whatever the checks say", async () => {
    // GIVEN a passing check
    const readiness = new Readiness();
    readiness.addCheck("catalog", () => true);

    // WHEN marked as shutting down
    readiness.markShuttingDown();

    // THEN
    expect(readiness.shuttingDown).toStrictEqual(true);
    expect(await readiness.evaluate()).toStrictEqual({
      status: "shutting_down",
      checks: { catalog: { ok: true } },
      failed: [],
    });
  });

  it("fails a check that throws without exposing the error, and hands the error to the listener", async () => {
    // GIVEN a check that throws
    const readiness = new Readiness();
    const boom = new Error("connect ECONNREFUSED 10.0.0.7:5432");
    readiness.addCheck("db", () => {
      throw boom;
    });
    const seen: unknown[] = [];

    // WHEN evaluated
    const report = await readiness.evaluate((name, error) => seen.push([name, error]));

    // THEN
    expect(report).toStrictEqual({
      status: "not_ready",
      checks: { db: { ok: false, detail: "check threw an error" } },
      failed: ["db"],
    });
    expect(seen).toStrictEqual([["db", boom]]);
  });

  it("fails a check that does not answer within the check timeout", async () => {
    // GIVEN a check that never settles, and fake timers
    jest.useFakeTimers();
    const readiness = new Readiness({ checkTimeoutMs: 1500 });
    readiness.addCheck("stuck", () => new Promise<boolean>(() => undefined));

    // WHEN evaluated and the timeout elapses
    const pending = readiness.evaluate();
    await jest.advanceTimersByTimeAsync(1500);

    // THEN
    expect(await pending).toStrictEqual({
      status: "not_ready",
      checks: { stuck: { ok: false, detail: "timed out after 1500 ms" } },
      failed: ["stuck"],
    });
  });

  it("refuses two checks with the same name", () => {
    // GIVEN a registered check
    const readiness = new Readiness();
    readiness.addCheck("bridge", () => true);

    // WHEN / THEN
    expect(() => readiness.addCheck("bridge", () => true)).toThrow(
      'readiness check "bridge" is already registered',
    );
  });
});
