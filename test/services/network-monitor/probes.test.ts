/**
 * The probe checks against real local servers on 127.0.0.1, timed by a manual clock: each
 * server advances the clock by the latency it simulates, so durations are exact, and a hung
 * server times out exactly when the test advances the clock past the timeout.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { ProbeContext } from "../../../services/network-monitor/src/checks";
import { MAX_MCP_ANSWER_BYTES } from "../../../services/network-monitor/src/mcp-probe";
import { probeTarget, withBasicAuth } from "../../../services/network-monitor/src/probes";
import { staticTarget } from "../../../services/network-monitor/src/targets";
import { ManualClock } from "../../helpers/monitor-clock";
import {
  flapping,
  hanging,
  healthy,
  HttpTarget,
  McpTarget,
  refusedPort,
  TcpTarget,
} from "../../helpers/monitor-targets";

const TIMEOUT_MS = 1000;

describe("probeTarget against real local servers", () => {
  let clock: ManualClock;
  let stop: AbortController;
  const closers: (() => Promise<void>)[] = [];

  beforeEach(() => {
    clock = new ManualClock();
    stop = new AbortController();
  });

  afterEach(async () => {
    stop.abort();
    await Promise.all(closers.splice(0).map((close) => close()));
  });

  const context = (): ProbeContext => ({
    clock,
    timeoutMs: TIMEOUT_MS,
    signal: stop.signal,
    version: "0.0.0-test",
  });

  async function http(script: Parameters<typeof HttpTarget.start>[0]): Promise<HttpTarget> {
    const target = await HttpTarget.start(script, clock);
    closers.push(() => target.close());
    return target;
  }

  it("passes a healthy server, with the HTTP answer's time as latency", async () => {
    // GIVEN a server that takes 12 ms to answer /health
    const server = await http(healthy(12));

    // WHEN it is probed
    const result = await probeTarget(staticTarget({ name: "web", url: `${server.url}/health` }), context());

    // THEN
    expect(result).toStrictEqual({
      up: true,
      latencyMs: 12,
      checks: [
        { kind: "tcp", outcome: "success", durationMs: 0 },
        { kind: "http", outcome: "success", durationMs: 12 },
      ],
    });
    expect(clock.pendingTimers).toStrictEqual(0);
  });

  it("sends the credentials of a target's URL as Basic auth, not in the URL", async () => {
    // GIVEN a health URL with credentials (HAProxy's stats page behind `stats auth`)
    const server = await http(healthy(0));
    const url = `${server.url.replace("http://", "http://admin:s%40cret@")}/health`;

    // WHEN it is probed
    const result = await probeTarget(staticTarget({ name: "stats", url }), context());

    // THEN the server saw them in the Authorization header
    expect(result.up).toBe(true);
    expect(server.requests).toStrictEqual([
      {
        method: "GET",
        path: "/health",
        authorization: `Basic ${Buffer.from("admin:s@cret").toString("base64")}`,
      },
    ]);
  });

  it("fails a refused connection at the TCP check and runs nothing after it", async () => {
    // GIVEN a port nothing listens on
    const port = await refusedPort();

    // WHEN / THEN
    expect(
      await probeTarget(staticTarget({ name: "gone", url: `http://127.0.0.1:${port}/health` }), context()),
    ).toStrictEqual({
      up: false,
      latencyMs: 0,
      checks: [{ kind: "tcp", outcome: "failure", durationMs: 0, error: "ECONNREFUSED" }],
    });
  });

  it("fails a 503 answer, naming the status", async () => {
    // GIVEN a flapping server, whose second answer is 503
    const server = await http(flapping);
    const target = staticTarget({ name: "flaky", url: `${server.url}/health` });

    // WHEN it is probed twice
    const first = await probeTarget(target, context());
    const second = await probeTarget(target, context());

    // THEN up, then down with the status
    expect([first.up, second]).toStrictEqual([
      true,
      {
        up: false,
        latencyMs: 0,
        checks: [
          { kind: "tcp", outcome: "success", durationMs: 0 },
          { kind: "http", outcome: "failure", durationMs: 0, error: "HTTP 503" },
        ],
      },
    ]);
  });

  it("times a hanging server out exactly at the probe timeout", async () => {
    // GIVEN a server that accepts the request and never answers
    const server = await http(hanging);

    // WHEN it is probed and the clock passes the timeout once the request has arrived
    const probe = probeTarget(staticTarget({ name: "stuck", url: `${server.url}/health` }), context());
    await server.waitForRequests("/health", 1);
    clock.advance(TIMEOUT_MS);
    const result = await probe;

    // THEN the HTTP check timed out after exactly the timeout, and no timer is left behind
    expect(result).toStrictEqual({
      up: false,
      latencyMs: TIMEOUT_MS,
      checks: [
        { kind: "tcp", outcome: "success", durationMs: 0 },
        { kind: "http", outcome: "timeout", durationMs: TIMEOUT_MS, error: "timed out after 1000 ms" },
      ],
    });
    expect(clock.pendingTimers).toStrictEqual(0);
  });

  it("fails a 200 whose body the server cuts off, rather than pass it", async () => {
    // GIVEN a server that answers 200 with the start of a body, then resets the connection
    const server = await http(() => "reset-body");

    // WHEN it is probed
    const result = await probeTarget(staticTarget({ name: "cut", url: `${server.url}/health` }), context());

    // THEN the HTTP check failed
    expect(result.up).toBe(false);
    expect(result.checks[1]).toMatchObject({ kind: "http", outcome: "failure" });
  });

  it("times out a 200 whose body never ends, rather than pass it", async () => {
    // GIVEN a server that answers 200 with the start of a body, then sends nothing more
    const server = await http(() => "stall-body");

    // WHEN it is probed and the clock passes the timeout once the answer has had time to arrive
    const probe = probeTarget(staticTarget({ name: "stalled", url: `${server.url}/health` }), context());
    await server.waitForRequests("/health", 1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    clock.advance(TIMEOUT_MS);

    // THEN the HTTP check timed out
    expect((await probe).checks[1]).toStrictEqual({
      kind: "http",
      outcome: "timeout",
      durationMs: TIMEOUT_MS,
      error: "timed out after 1000 ms",
    });
  });

  it("ends a check in flight as a failure, not a timeout, when the monitor stops", async () => {
    // GIVEN a probe waiting on a hanging server
    const server = await http(hanging);
    const probe = probeTarget(staticTarget({ name: "stuck", url: `${server.url}/health` }), context());
    await server.waitForRequests("/health", 1);

    // WHEN the monitor stops
    stop.abort();

    // THEN
    expect((await probe).checks[1]).toStrictEqual({
      kind: "http",
      outcome: "failure",
      durationMs: 0,
      error: "aborted",
    });
  });

  it("checks a tcp:// target by connecting only", async () => {
    // GIVEN a bare TCP listener
    const server = await TcpTarget.start();
    closers.push(() => server.close());

    // WHEN / THEN
    expect(
      await probeTarget(staticTarget({ name: "db", url: `tcp://127.0.0.1:${server.port}` }), context()),
    ).toStrictEqual({
      up: true,
      latencyMs: 0,
      checks: [{ kind: "tcp", outcome: "success", durationMs: 0 }],
    });
    expect(server.connections).toStrictEqual(1);
  });

  it("runs initialize + ping over the real MCP protocol for MCP services", async () => {
    // GIVEN a real MCP server (SDK, Streamable HTTP) whose /health takes 5 ms
    const server = await McpTarget.start(healthy(5), clock);
    closers.push(() => server.close());

    // WHEN an MCP service on it is probed
    const result = await probeTarget(
      staticTarget({ name: "mcp-files", url: `${server.url}/health` }),
      context(),
    );

    // THEN all three checks pass; the MCP exchange was initialize, initialized, ping (all POSTs)
    expect(result).toStrictEqual({
      up: true,
      latencyMs: 5,
      checks: [
        { kind: "tcp", outcome: "success", durationMs: 0 },
        { kind: "http", outcome: "success", durationMs: 5 },
        { kind: "mcp", outcome: "success", durationMs: 0 },
      ],
    });
    expect(server.requests.filter((r) => r.method === "POST").map((r) => r.path)).toStrictEqual([
      "/mcp",
      "/mcp",
      "/mcp",
    ]);
  });

  describe("routers that require a bearer token", () => {
    const TOKEN = "monitor-probe-token-0123456789";

    async function router(): Promise<McpTarget> {
      const server = await McpTarget.start(healthy(), clock, { bearer: TOKEN });
      closers.push(() => server.close());
      return server;
    }

    it("presents the router token on every MCP request to a router, and passes", async () => {
      // GIVEN a router that answers 401 without its token
      const server = await router();

      // WHEN it is probed with the token configured
      const result = await probeTarget(staticTarget({ name: "router", url: `${server.url}/health` }), {
        ...context(),
        routerToken: TOKEN,
      });

      // THEN the MCP check passes, and initialize, initialized and ping all carried the token
      expect(result.up).toBe(true);
      expect(result.checks.map((check) => [check.kind, check.outcome])).toStrictEqual([
        ["tcp", "success"],
        ["http", "success"],
        ["mcp", "success"],
      ]);
      expect(server.authorizations.length).toBeGreaterThanOrEqual(3);
      expect(new Set(server.authorizations)).toStrictEqual(new Set([`Bearer ${TOKEN}`]));
    });

    it("fails the MCP check with HTTP 401 when no token is configured", async () => {
      // GIVEN the same router, and a monitor without the token
      const server = await router();

      // WHEN / THEN
      const result = await probeTarget(
        staticTarget({ name: "router", url: `${server.url}/health` }),
        context(),
      );
      expect(result.up).toBe(false);
      expect(result.checks.at(-1)).toStrictEqual({
        kind: "mcp",
        outcome: "failure",
        durationMs: 0,
        error: "HTTP 401",
      });
      expect(server.authorizations).toStrictEqual([undefined]);
    });

    it("never sends the router token to a service that is not the router", async () => {
      // GIVEN an MCP service (no token required) and a monitor holding the router token
      const server = await McpTarget.start(healthy(), clock);
      closers.push(() => server.close());

      // WHEN it is probed
      const result = await probeTarget(staticTarget({ name: "mcp-files", url: `${server.url}/health` }), {
        ...context(),
        routerToken: TOKEN,
      });

      // THEN it passes and no request, health check or MCP, carried an Authorization header
      expect(result.up).toBe(true);
      expect(server.authorizations.length).toBeGreaterThanOrEqual(3);
      const paths = new Set(server.everyAuthorization.map((r) => r.path));
      expect([paths.has("/health"), paths.has("/mcp")]).toStrictEqual([true, true]);
      expect(server.everyAuthorization.filter((r) => r.authorization !== undefined)).toStrictEqual([]);
    });
  });

  it.each([
    ["a JSON body", "application/json", ""],
    ["an SSE event", "text/event-stream", "event: message\ndata: "],
  ])(
    "fails an MCP service whose answer (%s) runs past the size limit, and stops reading it",
    async (_, type, head) => {
      // GIVEN a router whose /health passes and whose /mcp answers initialize with a body (or an
      // event) that never ends
      let written = 0;
      const server = createServer((request, response) => {
        if (request.url === "/health") return void response.end("ok");
        response.writeHead(200, { "content-type": type });
        response.write(head);
        const chunk = Buffer.alloc(64 * 1024, " ");
        const more = () => {
          while (!response.destroyed && response.write(chunk)) written += chunk.length;
          if (!response.destroyed) response.once("drain", more);
        };
        more();
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      closers.push(() => new Promise((resolve) => server.close(() => resolve())));
      server.on("connection", (socket) => closers.push(async () => void socket.destroy()));
      const { port } = server.address() as AddressInfo;

      // WHEN it is probed (the manual clock never times the probe out)
      const result = await probeTarget(
        staticTarget({ name: "router", url: `http://127.0.0.1:${port}/health` }),
        context(),
      );

      // THEN the MCP check failed on the size, and the server could write only a bounded amount
      expect(result.checks.at(-1)).toStrictEqual({
        kind: "mcp",
        outcome: "failure",
        durationMs: 0,
        error: `the answer exceeded ${MAX_MCP_ANSWER_BYTES} bytes`,
      });
      expect(written).toBeLessThan(64 * MAX_MCP_ANSWER_BYTES);
    },
  );

  it("fails, rather than throws on, an instance whose address makes no URL (an IPv6 zone)", async () => {
    // GIVEN an instance that accepts connections, registered with an address no URL can hold
    const server = await http(healthy());
    const { port } = new URL(server.url);
    const consul = {
      ...staticTarget({ name: "router", url: `${server.url}/health` }),
      healthUrl: `http://[fe80::1%lo]:${port}/health`,
      mcpUrl: `http://[fe80::1%lo]:${port}/mcp`,
    };

    // WHEN it is probed, and probed again for its MCP check alone
    const probed = await probeTarget(consul, context());
    const mcpOnly = await probeTarget({ ...consul, healthUrl: undefined }, context());

    // THEN each round is a failure naming the URL, found after the TCP check passed
    const notUrl = expect.stringMatching(/^not a URL: .*Invalid URL/) as unknown;
    expect([probed.up, probed.checks.map((c) => [c.kind, c.outcome, c.error])]).toStrictEqual([
      false,
      [
        ["tcp", "success", undefined],
        ["http", "failure", notUrl],
      ],
    ]);
    expect(mcpOnly.checks.map((c) => [c.kind, c.outcome, c.error])).toStrictEqual([
      ["tcp", "success", undefined],
      ["mcp", "failure", notUrl],
    ]);
  });

  it("fails an MCP service whose /mcp does not speak MCP, naming the HTTP status", async () => {
    // GIVEN a router whose /health passes but which has no /mcp
    const server = await http(healthy());

    // WHEN / THEN
    expect(
      await probeTarget(staticTarget({ name: "router", url: `${server.url}/health` }), context()),
    ).toStrictEqual({
      up: false,
      latencyMs: 0,
      checks: [
        { kind: "tcp", outcome: "success", durationMs: 0 },
        { kind: "http", outcome: "success", durationMs: 0 },
        { kind: "mcp", outcome: "failure", durationMs: 0, error: "HTTP 404" },
      ],
    });
  });
});

describe("withBasicAuth", () => {
  it("moves decoded credentials into a header and leaves other URLs alone", () => {
    expect(withBasicAuth("http://user%3A1:p%C3%A4ss@host:8080/stats?x=1")).toStrictEqual({
      url: "http://host:8080/stats?x=1",
      authorization: `Basic ${Buffer.from("user:1:päss").toString("base64")}`,
    });
    expect(withBasicAuth("http://host/health")).toStrictEqual({ url: "http://host/health" });
    // A stray % is sent as written rather than failing the probe
    expect(withBasicAuth("http://a%zz:b@host/")).toStrictEqual({
      url: "http://host/",
      authorization: `Basic ${Buffer.from("a%zz:b").toString("base64")}`,
    });
  });
});
