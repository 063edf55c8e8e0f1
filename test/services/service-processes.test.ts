/**
 * The three built services as real processes (DESIGN.md "How a service is started"): each
 * starts from `node services/<svc>/dist/main.js`, answers `/health/ready`, registers in a
 * Consul double with its real port, and on SIGTERM deregisters the same ID and exits 0. A bad
 * environment makes it exit 1 with a one-line message naming the variable.
 *
 * Requires `npm run build` (`npm test` runs it first).
 */
import { hostname } from "node:os";
import { ConsulDouble } from "../helpers/consul-double";
import type { LogLine, ServiceName } from "../helpers/service-process";
import { httpGet, serviceVersion, startService, stopAllServices } from "../helpers/service-process";

jest.setTimeout(30_000);

interface Case {
  readonly service: ServiceName;
  /** Extra environment of the happy path. */
  readonly env: Record<string, string>;
  /** The name it registers under. */
  readonly name: string;
  readonly tags: readonly string[];
  /** An environment it must refuse, and the exact stderr it must print. */
  readonly badEnv: Record<string, string>;
  readonly badMessage: string;
  /** A secret in `badEnv` that must not appear anywhere. */
  readonly secret?: string;
  /** A log line announcing the service's own readiness checks pass, when it has some. */
  readonly readyLog?: string;
  /** The `/health/ready` body once ready. */
  readonly readyBody: string;
}

const CASES: readonly Case[] = [
  {
    service: "router",
    env: {},
    name: "router",
    tags: ["router"],
    badEnv: { PORT: "70000", ROUTER_SESSION_KEY: "too-short-secret" },
    badMessage:
      'router: invalid environment: PORT must be an integer between 0 and 65535 (got "70000"); ' +
      "ROUTER_SESSION_KEY must be at least 32 characters (got <redacted>)\n",
    secret: "too-short-secret",
    readyLog: "catalog ready",
    readyBody:
      '{"status":"ok","checks":{"discovery":{"ok":true,"detail":"ok"},"catalog":{"ok":true,"detail":"0 tools"}},"failed":[]}',
  },
  {
    service: "mcp-server",
    env: { SERVICE_NAME: "mcp-files" },
    name: "mcp-files",
    tags: ["mcp"],
    badEnv: { MCP_BRIDGE_PROCESSES: "0" },
    badMessage:
      'mcp-server: invalid environment: MCP_BRIDGE_PROCESSES must be an integer between 1 and 64 (got "0")\n',
    readyLog: "bridge link up",
    readyBody:
      '{"status":"ok","checks":{"tool-server":{"ok":true,"detail":"1 of 1 tool server process(es) up"}},"failed":[]}',
  },
  {
    service: "network-monitor",
    env: {},
    name: "network-monitor",
    tags: ["monitor"],
    // A target URL may carry credentials: the value is never shown.
    badEnv: { MONITOR_TARGETS: '[{"name":"db","url":"ftp://admin:s3cret@db"}]' },
    badMessage:
      "network-monitor: invalid environment: MONITOR_TARGETS[0].url must be an http(s):// URL or " +
      "tcp://host:port (got <redacted>)\n",
    secret: "s3cret",
    readyBody: '{"status":"ok","checks":{},"failed":[]}',
  },
];

describe.each(CASES)("$service process", (c) => {
  let consul: ConsulDouble;

  beforeEach(async () => {
    consul = await ConsulDouble.start();
    // The router reads the catalog: an empty one, as a fresh Consul has.
    consul.respondWith((call) =>
      call.path === "/v1/catalog/services"
        ? { status: 200, body: "{}" }
        : call.path.startsWith("/v1/health/service/")
          ? { status: 200, body: "[]" }
          : { status: 200, body: "" },
    );
  });

  afterEach(async () => {
    await stopAllServices();
    await consul.close();
  });

  it("registers with its real port, is ready, and on SIGTERM deregisters and exits 0", async () => {
    // GIVEN the built service started on an OS-chosen port with Consul pointing at the double
    const proc = startService(c.service, {
      HOST: "127.0.0.1",
      PORT: "0",
      CONSUL_HTTP_ADDR: consul.url,
      ...c.env,
    });
    const listening = await proc.waitForLog((line) => line.msg === "listening");
    const port = listening.port as number;
    await proc.waitForLog((line) => line.msg === "registered in consul");
    if (c.readyLog !== undefined) await proc.waitForLog((line) => line.msg === c.readyLog);
    const id = `${c.name}-${hostname()}-${port}`;

    // WHEN its readiness is probed
    const ready = await httpGet(`http://127.0.0.1:${port}/health/ready`);

    // THEN it is ready, and the double holds one registration carrying the real port
    expect(listening.url).toStrictEqual(`http://127.0.0.1:${port}`);
    expect(ready).toStrictEqual({ status: 200, body: c.readyBody });
    // Only the agent endpoints: the monitor (and the router) also read the catalog.
    const agentCalls = () => consul.calls.filter((call) => call.path.startsWith("/v1/agent/"));
    expect(
      agentCalls().map(({ method, path, query, body }) => ({ method, path, query, body })),
    ).toStrictEqual([
      {
        method: "PUT",
        path: "/v1/agent/service/register",
        query: "replace-existing-checks=true",
        body: {
          ID: id,
          Name: c.name,
          Address: "127.0.0.1",
          Port: port,
          Tags: c.tags,
          Meta: { version: serviceVersion(c.service) },
          Check: {
            HTTP: `http://127.0.0.1:${port}/health/ready`,
            Method: "GET",
            Interval: "10s",
            Timeout: "2s",
            DeregisterCriticalServiceAfter: "1m",
          },
        },
      },
    ]);

    // WHEN it receives SIGTERM
    proc.child.kill("SIGTERM");
    const exit = await proc.exited;

    // THEN it deregistered the same ID and exited 0 after a clean drain
    expect(exit).toStrictEqual({ code: 0, signal: null });
    expect(agentCalls().map(({ method, path }) => `${method} ${path}`)).toStrictEqual([
      "PUT /v1/agent/service/register",
      `PUT /v1/agent/service/deregister/${id}`,
    ]);
    expect(pick(proc.lines.at(-1), ["msg", "drain", "exitCode"])).toStrictEqual({
      msg: "stopped",
      drain: "drained",
      exitCode: 0,
    });
  });

  it("registers again when Consul has lost the instance (a restarted dev agent)", async () => {
    // GIVEN a started service that checks its registration every second
    const proc = startService(c.service, {
      HOST: "127.0.0.1",
      PORT: "0",
      CONSUL_HTTP_ADDR: consul.url,
      CONSUL_RESYNC_INTERVAL_MS: "1000",
      ...c.env,
    });
    const port = (await proc.waitForLog((line) => line.msg === "listening")).port as number;
    await proc.waitForLog((line) => line.msg === "registered in consul");
    const id = `${c.name}-${hostname()}-${port}`;

    // WHEN the agent no longer knows its ID
    const answer = (call: { path: string }) =>
      call.path === "/v1/catalog/services" ? "{}" : call.path.startsWith("/v1/health/") ? "[]" : "";
    consul.respondWith((call) =>
      call.method === "GET" && call.path === `/v1/agent/service/${id}`
        ? { status: 404, body: `unknown service ID: ${id}` }
        : { status: 200, body: answer(call) },
    );
    await proc.waitForLog((line) => line.msg === "registered in consul again");

    // THEN it put the same registration again, and still deregisters that ID on SIGTERM
    const puts = consul.calls.filter((call) => call.method === "PUT");
    expect(puts.map((call) => call.path)).toStrictEqual([
      "/v1/agent/service/register",
      "/v1/agent/service/register",
    ]);
    expect(puts[1]?.body).toStrictEqual(puts[0]?.body);
    proc.child.kill("SIGTERM");
    expect(await proc.exited).toStrictEqual({ code: 0, signal: null });
    expect(consul.calls.filter((call) => call.method === "PUT").at(-1)?.path).toBe(
      `/v1/agent/service/deregister/${id}`,
    );
  });

  it("refuses a bad environment: exit 1 and one stderr line naming the variable", async () => {
    // GIVEN an environment with an invalid value
    const proc = startService(c.service, { HOST: "127.0.0.1", PORT: "0", ...c.badEnv });

    // WHEN it starts
    const exit = await proc.exited;

    // THEN it exits 1 without logging or listening, naming the variable (secrets redacted)
    expect(exit).toStrictEqual({ code: 1, signal: null });
    expect(proc.stderr()).toStrictEqual(c.badMessage);
    expect(proc.lines).toStrictEqual([]);
    if (c.secret !== undefined) expect(proc.stderr()).not.toContain(c.secret);
  });
});

describe("processes with a Consul that refuses the registration", () => {
  let consul: ConsulDouble;

  beforeEach(async () => {
    consul = await ConsulDouble.start();
  });

  afterEach(async () => {
    await stopAllServices();
    await consul.close();
  });

  it("router logs the failure and exits 1 without retrying a 4xx", async () => {
    // GIVEN a Consul double that rejects every registration as a bad request
    consul.respondWith(() => ({ status: 400, body: "Invalid check: Interval" }));

    // WHEN the router starts against it
    const proc = startService("router", { HOST: "127.0.0.1", PORT: "0", CONSUL_HTTP_ADDR: consul.url });
    const port = (await proc.waitForLog((line) => line.msg === "listening")).port as number;
    const exit = await proc.exited;

    // THEN it tried once, said why, and exited 1 without deregistering anything
    expect(exit).toStrictEqual({ code: 1, signal: null });
    // Only the agent endpoints: the router also reads the catalog.
    const agentCalls = consul.calls.filter((call) => call.path.startsWith("/v1/agent/"));
    expect(agentCalls.map(({ method, path }) => `${method} ${path}`)).toStrictEqual([
      "PUT /v1/agent/service/register",
    ]);
    const fatal = proc.lines
      .filter((line) => line.level === "fatal")
      .map((line) => pick(line, ["msg", "err"]));
    expect(fatal).toStrictEqual([
      {
        msg: "consul registration failed; stopping",
        err:
          `consul register router-${hostname()}-${port} at ${consul.url} failed after 1 attempt(s): ` +
          "HTTP 400: Invalid check: Interval",
      },
    ]);
  });

  it("network-monitor keeps serving unregistered, and registers once Consul takes it", async () => {
    // GIVEN a Consul double that rejects every registration
    consul.respondWith((call) =>
      call.method === "PUT"
        ? { status: 400, body: "Invalid check: Interval" }
        : { status: 500, body: "down" },
    );

    // WHEN the monitor starts against it, checking its registration every second
    const proc = startService("network-monitor", {
      HOST: "127.0.0.1",
      PORT: "0",
      CONSUL_HTTP_ADDR: consul.url,
      CONSUL_RESYNC_INTERVAL_MS: "1000",
    });
    const port = (await proc.waitForLog((line) => line.msg === "listening")).port as number;
    const failed = await proc.waitForLog((line) => String(line.msg).startsWith("consul registration failed"));
    const live = await fetch(`http://127.0.0.1:${port}/health/live`);

    // THEN it said so and kept serving
    expect([failed.level, failed.msg, live.status]).toStrictEqual([
      "error",
      "consul registration failed; serving unregistered and registering once consul is back",
      200,
    ]);

    // AND WHEN Consul takes registrations again (it knows no instance yet), it registers
    consul.respondWith((call) =>
      call.method === "GET" && call.path.startsWith("/v1/agent/service/")
        ? { status: 404, body: "unknown service ID" }
        : {
            status: 200,
            body: call.path.startsWith("/v1/health/")
              ? "[]"
              : call.path === "/v1/catalog/services"
                ? "{}"
                : "",
          },
    );
    await proc.waitForLog((line) => line.msg === "registered in consul again");
    proc.child.kill("SIGTERM");
    expect(await proc.exited).toStrictEqual({ code: 0, signal: null });
  });
});

/** The given fields of a log line, for exact comparison without timestamps. */
function pick(line: LogLine | undefined, keys: readonly string[]): LogLine {
  return Object.fromEntries(keys.map((key) => [key, line?.[key]]));
}

afterAll(async () => {
  await stopAllServices();
});
