import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import type { IncomingMessage } from "node:http";
import { createServer, request } from "node:http";
import type { AddressInfo, Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderHaproxyConfig } from "../../infra/haproxy";
import { buildTopology, METRICS_PATH } from "../../infra/topology";
import { stackConfig } from "../helpers/stack-files";

// Real HAProxy with a rendered config (for a TLS-terminating load balancer in front), forwarding
// its gateway to a loopback HTTP server that answers with the X-Forwarded-Proto it received, or,
// on `/stream`, opens an event stream, or, on `/die`, breaks off its answer.

let backend: Server;
let haproxy: ChildProcess | undefined;
/** Further HAProxy processes a test started (killed at the end, whatever happened). */
const others: ChildProcess[] = [];
let dir: string;
let gatewayPort: number;
let statsPort: number;
/** What the HAProxy under test has logged (its access log goes to stdout). */
let haproxyLog = "";
/** Called when the backend's side of a `/stream` request closes. */
let onStreamClosed: (() => void) | undefined;

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

/** A port that was free a moment ago. */
async function freePort(): Promise<number> {
  const probe = createServer();
  const port = await listen(probe);
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/**
 * POSTs `{}` over a connection of its own: HAProxy sends the first request of a client connection
 * over a server connection it has not reused (a reused one that fails is closed on the client,
 * for it to retry). The body is parsed when it is JSON. Rejects when HAProxy is not answering.
 */
function postFresh(url: string): Promise<{ status?: number; type?: string; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
      res.on("end", () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: the text itself
        }
        resolve({ status: res.statusCode, type: res.headers["content-type"], body });
      });
    });
    req.once("error", reject).end("{}");
  });
}

/** GET `path` through HAProxy's gateway frontend; undefined while HAProxy is not answering yet. */
async function viaGateway(headers: Record<string, string>, path = "/mcp"): Promise<string | undefined> {
  const res = await fetch(`http://127.0.0.1:${gatewayPort}${path}`, { headers }).catch(() => undefined);
  return res?.ok === true ? res.text() : undefined;
}

/** One scrape of HAProxy's exporter: its status, content type and the router backend's request count. */
async function scrape(): Promise<{ status: number; contentType: string | null; routerRequests: number }> {
  const res = await fetch(`http://127.0.0.1:${statsPort}${METRICS_PATH}`);
  const line = (await res.text())
    .split("\n")
    .find((l) => l.startsWith('haproxy_backend_http_requests_total{proxy="router"} '));
  if (line === undefined) throw new Error("no haproxy_backend_http_requests_total for the router backend");
  return {
    status: res.status,
    contentType: res.headers.get("content-type"),
    routerRequests: Number(line.split(" ")[1]),
  };
}

beforeAll(async () => {
  backend = createServer((req, res) => {
    if (req.url === "/die") return void req.socket.end("HTTP/1.1 2");
    if (req.url === "/stream") {
      res.on("close", () => onStreamClosed?.());
      return void res.writeHead(200, { "content-type": "text/event-stream" }).write(": open\n\n");
    }
    res.writeHead(200, { "content-type": "text/plain" }).end(String(req.headers["x-forwarded-proto"]));
  });
  const backendPort = await listen(backend);
  gatewayPort = await freePort();
  statsPort = await freePort();
  const dev = buildTopology(stackConfig("dev"));
  const topology = { ...dev, ports: { ...dev.ports, gateway: gatewayPort, stats: statsPort }, catalog: [] };
  const cfg = renderHaproxyConfig(
    topology,
    { kind: "static", servers: { router: [`127.0.0.1:${backendPort}`] } },
    { bindAddress: "127.0.0.1", tlsTerminatedInFront: true },
  );
  dir = mkdtempSync(join(tmpdir(), "haproxy-live-"));
  writeFileSync(join(dir, "haproxy.cfg"), cfg);
  haproxy = spawn("haproxy", ["-db", "-n", "1000", "-f", join(dir, "haproxy.cfg")], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  haproxy.stdout?.setEncoding("utf8").on("data", (chunk: string) => (haproxyLog += chunk));
  // Bounded wait for HAProxy to bind and pass the request on: 100 tries, 100 ms apart.
  for (let i = 0; i < 100 && (await viaGateway({})) === undefined; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

afterAll(async () => {
  haproxy?.kill("SIGKILL");
  for (const other of others) other.kill("SIGKILL");
  await new Promise((resolve) => backend.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe("real HAProxy with a rendered config", () => {
  test("behind a TLS-terminating load balancer the router is told https, whatever the client claimed", async () => {
    expect(await viaGateway({})).toBe("https");
    expect(await viaGateway({ "x-forwarded-proto": "http" })).toBe("https");
  });

  test("the stats port serves Prometheus metrics that count the gateway's requests", async () => {
    // GIVEN the router backend's request count as the exporter reports it now (whatever ran before)
    const before = await scrape();
    // WHEN 5 requests go through the gateway to the router, one after another
    const answers: (string | undefined)[] = [];
    for (let i = 0; i < 5; i++) answers.push(await viaGateway({}));
    // THEN each reached the router, and the exporter counted exactly those 5: HAProxy counts a
    // request when it hands it to the backend, before answering, while its health checks and
    // these scrapes (served by the stats frontend itself) are not backend requests.
    const after = await scrape();
    expect(answers).toStrictEqual(["https", "https", "https", "https", "https"]);
    expect([
      after.status,
      after.contentType?.startsWith("text/plain"),
      after.routerRequests - before.routerRequests,
    ]).toStrictEqual([200, true, 5]);
    // AND the stats page and the health check stay where they were
    const [page, health] = await Promise.all(
      ["/", "/healthz"].map((path) => fetch(`http://127.0.0.1:${statsPort}${path}`)),
    );
    expect([page?.status, (await page?.text())?.includes("Statistics Report"), health?.status]).toStrictEqual(
      [200, true, 200],
    );
  });

  test("the front ports do not show clients a service's /info or /metrics, and pass other paths", async () => {
    // WHEN a client asks the gateway for the operational endpoints, and for paths near them
    const asked = await Promise.all(
      ["/info", "/metrics", "/metrics/x", "/informed", "/mcp"].map(async (path) => {
        const res = await fetch(`http://127.0.0.1:${gatewayPort}${path}`);
        return [path, res.status, await res.text()];
      }),
    );

    // THEN the first three are answered by HAProxy with a JSON-RPC 404, the others reach the router
    const refused = JSON.stringify({
      jsonrpc: "2.0",
      error: { code: -32601, message: "Not Found: operational endpoints are not served here" },
      id: null,
    });
    expect(asked).toStrictEqual([
      ["/info", 404, refused],
      ["/metrics", 404, refused],
      ["/metrics/x", 404, refused],
      ["/informed", 200, "https"],
      ["/mcp", 200, "https"],
    ]);
  });

  test("the access log names a request's path, never the session id in its query", async () => {
    // WHEN a request with a session id in its query goes through the gateway
    expect(await viaGateway({}, "/messages?sessionId=secret-session-id")).toBe("https");

    // THEN HAProxy logs it (a line per request, written once it is answered) by its path alone
    for (let i = 0; i < 60 && !haproxyLog.includes("/messages"); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect([
      haproxyLog.includes('"GET /messages HTTP/1.1"'),
      haproxyLog.includes("secret-session-id"),
    ]).toStrictEqual([true, false]);
  });

  test("a client's close of a stream reaches the backend at once, not when HAProxy's timeouts end", async () => {
    // GIVEN a stream open through the gateway (the rendered timeouts run for seconds to hours)
    const closedAtBackend = new Promise<string>((resolve) => (onStreamClosed = () => resolve("closed")));
    const req = request(`http://127.0.0.1:${gatewayPort}/stream`);
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      req.once("response", resolve).once("error", reject).end();
    });
    await once(res, "data");

    // WHEN the client closes it / THEN the backend's side of it closes too
    req.destroy();
    expect(await closedAtBackend).toBe("closed");
  });

  test("HAProxy's own error answers are JSON-RPC errors", async () => {
    // WHEN the backend breaks off its answer
    const dropped = await postFresh(`http://127.0.0.1:${gatewayPort}/die`);

    // THEN the client gets a 502 carrying a JSON-RPC error, not an HTML page
    expect([dropped.status, dropped.type, dropped.body]).toStrictEqual([
      502,
      "application/json",
      {
        jsonrpc: "2.0",
        error: { code: -32603, message: "Bad Gateway: the backend failed before it answered" },
        id: null,
      },
    ]);

    // AND with no backend up at all, a 503 likewise
    const dev = buildTopology(stackConfig("dev"));
    const port = await freePort();
    const topology = { ...dev, ports: { ...dev.ports, gateway: port, stats: await freePort() }, catalog: [] };
    writeFileSync(
      join(dir, "no-backend.cfg"),
      renderHaproxyConfig(
        topology,
        { kind: "static", servers: { router: [`127.0.0.1:${await freePort()}`] } },
        { bindAddress: "127.0.0.1" },
      ),
    );
    others.push(
      spawn("haproxy", ["-db", "-n", "1000", "-f", join(dir, "no-backend.cfg")], { stdio: "ignore" }),
    );
    let unavailable: Awaited<ReturnType<typeof postFresh>> | undefined;
    // Bounded wait for it to bind: 100 tries, 100 ms apart.
    for (let i = 0; i < 100 && unavailable === undefined; i++) {
      unavailable = await postFresh(`http://127.0.0.1:${port}/mcp`).catch(() => undefined);
      if (unavailable === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect([unavailable?.status, unavailable?.body]).toStrictEqual([
      503,
      {
        jsonrpc: "2.0",
        error: { code: -32603, message: "Service Unavailable: no backend is up, try again shortly" },
        id: null,
      },
    ]);
  });

  test("a GET a replica refuses with 503 is retried on another; other methods are never sent twice", async () => {
    // GIVEN two routers behind a fresh HAProxy: one ready but refusing every MCP request with 503
    // (as one shutting down refuses a new legacy SSE stream), one serving
    const seen: string[] = [];
    const refusing = createServer((req, res) => {
      if (req.url === "/health/ready") return void res.end("ready");
      seen.push(req.method ?? "");
      res.writeHead(503, { "content-type": "application/json", "retry-after": "1" }).end("{}");
    });
    const serving = createServer((_req, res) => void res.end("served"));
    const ports = [await listen(refusing), await listen(serving)];
    try {
      const dev = buildTopology(stackConfig("dev"));
      const port = await freePort();
      const topology = {
        ...dev,
        ports: { ...dev.ports, gateway: port, stats: await freePort() },
        catalog: [],
      };
      writeFileSync(
        join(dir, "two-routers.cfg"),
        renderHaproxyConfig(
          topology,
          { kind: "static", servers: { router: ports.map((p) => `127.0.0.1:${p}`) } },
          { bindAddress: "127.0.0.1" },
        ),
      );
      others.push(
        spawn("haproxy", ["-db", "-n", "1000", "-f", join(dir, "two-routers.cfg")], { stdio: "ignore" }),
      );
      const send = (method: string) =>
        new Promise<{ status?: number; body: string }>((resolve, reject) => {
          const req = request(`http://127.0.0.1:${port}/sse`, { method, agent: false }, (res) => {
            let body = "";
            res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
            res.on("end", () => resolve({ status: res.statusCode, body }));
          });
          req.once("error", reject).end(method === "POST" ? "{}" : undefined);
        });
      // Bounded wait for it to bind: 100 tries, 100 ms apart.
      for (let i = 0; i < 100 && (await send("GET").catch(() => undefined)) === undefined; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      seen.length = 0;

      // WHEN 4 GETs and then 4 POSTs go through it, one after another (round-robin alternates)
      const gets = [];
      for (let i = 0; i < 4; i++) gets.push(await send("GET"));
      const gotBeforePosts = seen.length;
      const posts = [];
      for (let i = 0; i < 4; i++) posts.push(await send("POST"));

      // THEN every GET was served, some after the refusing router had turned them down; and a POST
      // it refused reached the client as it was, each one sent to it once
      expect(gets).toStrictEqual(Array.from({ length: 4 }, () => ({ status: 200, body: "served" })));
      expect(gotBeforePosts).toBeGreaterThan(0);
      const refusedPosts = posts.filter((p) => p.status === 503);
      expect(refusedPosts.length).toBeGreaterThan(0);
      expect(seen.slice(gotBeforePosts)).toStrictEqual(refusedPosts.map(() => "POST"));
      expect(posts.filter((p) => p.status !== 503)).toStrictEqual(
        Array.from({ length: 4 - refusedPosts.length }, () => ({ status: 200, body: "served" })),
      );
    } finally {
      await Promise.all([refusing, serving].map((s) => new Promise((resolve) => s.close(resolve))));
    }
  });

  test("with exclusive ports, a second HAProxy on a port already served fails instead of sharing it", async () => {
    // GIVEN the running HAProxy's config, rendered again with exclusive ports
    const dev = buildTopology(stackConfig("dev"));
    const topology = {
      ...dev,
      ports: { ...dev.ports, gateway: gatewayPort, stats: await freePort() },
      catalog: [],
    };
    const cfg = renderHaproxyConfig(
      topology,
      { kind: "static", servers: { router: ["127.0.0.1:9"] } },
      { bindAddress: "127.0.0.1", exclusivePorts: true },
    );
    writeFileSync(join(dir, "second.cfg"), cfg);

    // WHEN it starts on the gateway port the first one serves
    const second = spawn("haproxy", ["-db", "-n", "1000", "-f", join(dir, "second.cfg")], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    second.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    others.push(second);
    const code = await new Promise<number | null>((resolve) => second.once("exit", resolve));

    // THEN it exits with an error naming the port, and the first one still serves
    expect(code).not.toBe(0);
    expect(stderr).toContain(`127.0.0.1:${gatewayPort}`);
    expect(await viaGateway({})).toBe("https");
  });
});
