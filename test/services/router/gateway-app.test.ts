/**
 * The router app over real HTTP on 127.0.0.1, in this process, in front of in-process upstreams:
 * sessions that any replica serves, streams that hear about catalog changes, replicas that hand
 * each other SSE messages and cancellations, bearer tokens, and a passthrough that keeps the
 * client's credentials to itself.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import type { FastifyInstance } from "fastify";
import type { ShutdownResult } from "@mcp-platform/shared";
import { shutdownGracefully } from "@mcp-platform/shared";
import { MCP_POST_HEADERS, messageOf, rawRequest } from "../../helpers/e2e-clients";
import type { TestRouter } from "../../helpers/router-app";
import { awaitableLogger, openSse, startRouter, TEST_SESSION_KEY } from "../../helpers/router-app";
import { SessionSealer } from "../../../services/router/src/session-token";
import { ConsulCatalogDouble } from "../../helpers/consul-catalog-double";
import { refusedPort } from "../../helpers/refused-port";
import { FakeMcpServer, startBuiltinServer } from "../../helpers/router-upstreams";

const INITIALIZE = JSON.stringify({
  jsonrpc: "2.0",
  id: 0,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
});

const routers: TestRouter[] = [];
const apps: FastifyInstance[] = [];
const fakes: FakeMcpServer[] = [];
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
  await Promise.all(routers.splice(0).map((r) => r.app.close()));
  await Promise.all(apps.splice(0).map((a) => a.close()));
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

async function router(env: Record<string, string>, overrides = {}): Promise<TestRouter> {
  const started = await startRouter(env, overrides);
  routers.push(started);
  return started;
}

async function builtin(): Promise<string> {
  const server = await startBuiltinServer();
  apps.push(server.app);
  return server.url;
}

/** POSTs a JSON-RPC body to `url`; returns the answer and its message. */
async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const answer = await rawRequest(url, {
    method: "POST",
    headers: { ...MCP_POST_HEADERS, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const type = String(answer.headers["content-type"] ?? "");
  const parsed = type.startsWith("application/json") || type.startsWith("text/event-stream");
  return { answer, message: parsed ? messageOf(answer) : undefined };
}

const call = (id: number, name: string, args: Record<string, unknown>, meta?: Record<string, unknown>) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name, arguments: args, ...(meta === undefined ? {} : { _meta: meta }) },
});

/** Two replicas with `env` that know each other as peers (as discovery tells them). */
async function twoReplicas(
  env: Record<string, string>,
  overridesOfFirst = {},
): Promise<[TestRouter, TestRouter]> {
  const [portA, portB] = [await refusedPort(), await refusedPort()];
  const peers = { ROUTER_PEERS: `http://127.0.0.1:${portA},http://127.0.0.1:${portB}` };
  const a = await router({ ...env, ...peers, PORT: String(portA) }, overridesOfFirst);
  const b = await router({ ...env, ...peers, PORT: String(portB) });
  return [a, b];
}

/**
 * Two replicas that know each other, and a slow call (`echo__progress`, id 7, progress token
 * "p7", about 5 s) running on the first as an open SSE answer.
 */
async function slowCallOnFirstOfTwoReplicas(overridesOfFirst = {}) {
  const upstream = await builtin();
  const [a, b] = await twoReplicas(
    { ROUTER_STATIC_SERVICES: JSON.stringify({ echo: [upstream] }) },
    overridesOfFirst,
  );
  const session = String((await post(`${a.url}/mcp`, INITIALIZE)).answer.headers["mcp-session-id"]);
  const stream = await openSse(`${a.url}/mcp`, {
    method: "POST",
    headers: { ...MCP_POST_HEADERS, "mcp-session-id": session },
    body: JSON.stringify(call(7, "echo__progress", { steps: 100, intervalMs: 50 }, { progressToken: "p7" })),
  });
  closers.push(async () => stream.close());
  return { a, b, session, stream };
}

/** The client's `notifications/cancelled` for request `requestId` of `session`, sent to `r`. */
function cancelCall(r: TestRouter, session: string, requestId: number) {
  return post(
    `${r.url}/mcp`,
    { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId, reason: "user" } },
    { "mcp-session-id": session },
  );
}

describe("router replicas", () => {
  it("serve any request of a session sealed by any replica with the shared key, and no other", async () => {
    // GIVEN two replicas with the same key, and one with another key
    const upstream = await builtin();
    const services = JSON.stringify({ echo: [upstream] });
    const [a, b] = [
      await router({ ROUTER_STATIC_SERVICES: services }),
      await router({ ROUTER_STATIC_SERVICES: services }),
    ];
    const stranger = await router({
      ROUTER_STATIC_SERVICES: services,
      ROUTER_SESSION_KEY: "another-router-key-another-router-key-0123",
    });

    // WHEN a session opened on one replica calls a tool on the other, and on the stranger
    const init = await post(`${a.url}/mcp`, INITIALIZE);
    const session = String(init.answer.headers["mcp-session-id"]);
    const onB = await post(`${b.url}/mcp`, call(1, "echo__echo", { message: "hi" }), {
      "mcp-session-id": session,
    });
    const onStranger = await post(`${stranger.url}/mcp`, call(2, "echo__echo", { message: "hi" }), {
      "mcp-session-id": session,
    });

    // THEN the other replica serves it; the stranger does not know it
    expect(init.message).toMatchObject({
      id: 0,
      result: { protocolVersion: "2025-06-18", serverInfo: { name: "mcp-platform-router" } },
    });
    expect(onB.message).toStrictEqual({
      jsonrpc: "2.0",
      id: 1,
      result: { content: [{ type: "text", text: "hi" }] },
    });
    expect([onStranger.answer.status, onStranger.message?.error]).toStrictEqual([
      404,
      { code: -32001, message: "Session not found" },
    ]);
  });

  it("seal a session id that stays usable whatever the size of the client's clientInfo", async () => {
    // GIVEN a client that names itself at length (20 kB; the body limit is 1 MiB)
    const upstream = await builtin();
    const r = await router({ ROUTER_STATIC_SERVICES: JSON.stringify({ echo: [upstream] }) });
    const init = await post(`${r.url}/mcp`, {
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "n".repeat(20_000), version: "v".repeat(5_000) },
      },
    });
    const session = String(init.answer.headers["mcp-session-id"]);

    // WHEN it calls with the id it got
    const called = await post(`${r.url}/mcp`, call(1, "echo__echo", { message: "hi" }), {
      "mcp-session-id": session,
    });

    // THEN the id is small, because the token keeps 64 characters of each, and it works
    expect(session.length).toBeLessThan(1000);
    expect(called.message).toStrictEqual({
      jsonrpc: "2.0",
      id: 1,
      result: { content: [{ type: "text", text: "hi" }] },
    });
  });

  it("accept logging/setLevel with a valid level only", async () => {
    const r = await router({ ROUTER_STATIC_SERVICES: JSON.stringify({ echo: [await builtin()] }) });
    const session = String((await post(`${r.url}/mcp`, INITIALIZE)).answer.headers["mcp-session-id"]);
    const setLevel = async (id: number, params: unknown) =>
      (
        await post(
          `${r.url}/mcp`,
          { jsonrpc: "2.0", id, method: "logging/setLevel", params },
          {
            "mcp-session-id": session,
          },
        )
      ).message;
    expect([await setLevel(1, { level: "debug" }), await setLevel(2, { level: "bogus" })]).toStrictEqual([
      { jsonrpc: "2.0", id: 1, result: {} },
      { jsonrpc: "2.0", id: 2, error: { code: -32602, message: "Invalid params for logging/setLevel" } },
    ]);
  });

  it("keep every session through a session key rotation done in three rolling steps", async () => {
    // GIVEN replicas on the old key, and a session opened there
    const upstream = await builtin();
    const services = JSON.stringify({ echo: [upstream] });
    const [OLD, NEW] = [
      "old-router-key-old-router-key-0123456789",
      "new-router-key-new-router-key-0123456789",
    ];
    const onOld = await router({ ROUTER_STATIC_SERVICES: services, ROUTER_SESSION_KEY: OLD });
    const before = String((await post(`${onOld.url}/mcp`, INITIALIZE)).answer.headers["mcp-session-id"]);
    // WHEN replicas of each step of the rotation serve sessions sealed at every other step
    const step1 = await router({
      ROUTER_STATIC_SERVICES: services,
      ROUTER_SESSION_KEY: OLD,
      ROUTER_SESSION_ACCEPTED_KEYS: NEW,
    });
    const step2 = await router({
      ROUTER_STATIC_SERVICES: services,
      ROUTER_SESSION_KEY: NEW,
      ROUTER_SESSION_ACCEPTED_KEYS: OLD,
    });
    const step3 = await router({ ROUTER_STATIC_SERVICES: services, ROUTER_SESSION_KEY: NEW });
    const during = String((await post(`${step2.url}/mcp`, INITIALIZE)).answer.headers["mcp-session-id"]);
    const echo = async (replica: TestRouter, session: string) =>
      (
        await post(`${replica.url}/mcp`, call(1, "echo__echo", { message: "hi" }), {
          "mcp-session-id": session,
        })
      ).answer.status;
    // THEN replicas that overlap in time (old and step 1, step 1 and 2, step 2 and 3) serve each
    // other's sessions; only after the last step does a session sealed with the old key end
    expect([
      await echo(step1, before),
      await echo(step2, before),
      await echo(onOld, during),
      await echo(step1, during),
      await echo(step3, during),
      await echo(step3, before),
    ]).toStrictEqual([200, 200, 404, 200, 200, 404]);
  });

  it("forward a client's cancellation to the replica running the call", async () => {
    // GIVEN two replicas that know each other, and a slow call with progress running on the first
    const { a, b, session, stream } = await slowCallOnFirstOfTwoReplicas();
    const progress = await stream.next((e) => e.data.includes("notifications/progress"));

    // WHEN the client's cancellation lands on the other replica
    const cancel = await cancelCall(b, session, 7);
    const cancelled = await a.waitForLog((l) => l.msg === "request cancelled by the client");
    await stream.ended;

    // THEN the first replica aborted the call, whose stream ended with progress and no answer
    expect(JSON.parse(progress.data)).toMatchObject({ params: { progressToken: "p7", total: 100 } });
    expect([cancel.answer.status, cancelled.peerForwarded]).toStrictEqual([202, true]);
    expect(
      stream.events.filter((e) => e.data.includes('"result"') || e.data.includes('"error"')),
    ).toStrictEqual([]);
  });

  it("hand a legacy SSE message to the replica holding the stream, and 404 once it is gone", async () => {
    // GIVEN an SSE stream on one replica and its announced endpoint
    const upstream = await builtin();
    const [owner, other] = await twoReplicas({
      ROUTER_STATIC_SERVICES: JSON.stringify({ echo: [upstream] }),
    });
    const stream = await openSse(`${owner.url}/sse`);
    closers.push(async () => stream.close());
    const endpoint = (await stream.next((e) => e.event === "endpoint")).data;

    // WHEN a message for it is posted to the other replica, then again once the owner is gone
    const delivered = await post(`${other.url}${endpoint}`, call(3, "echo__echo", { message: "via peer" }));
    const answer = await stream.next((e) => e.data.includes('"id":3'));
    await owner.app.close();
    routers.splice(routers.indexOf(owner), 1);
    const orphaned = await post(`${other.url}${endpoint}`, call(4, "echo__echo", { message: "lost" }));

    // THEN the owner got and answered it on its stream; later, the session is gone
    expect([delivered.answer.status, delivered.answer.text]).toStrictEqual([202, "Accepted"]);
    expect(JSON.parse(answer.data)).toStrictEqual({
      jsonrpc: "2.0",
      id: 3,
      result: { content: [{ type: "text", text: "via peer" }] },
    });
    expect([orphaned.answer.status, orphaned.message?.error]).toStrictEqual([
      404,
      { code: -32001, message: "Session not found" },
    ]);
  });

  it("cancel the calls of a legacy SSE session whose stream closed, since no answer can reach it", async () => {
    // GIVEN a router running a long call (100 steps 500 ms apart) for an SSE session
    const upstream = await builtin();
    const r = await router({ ROUTER_STATIC_SERVICES: JSON.stringify({ echo: [upstream] }) });
    const stream = await openSse(`${r.url}/sse`);
    const endpoint = (await stream.next((e) => e.event === "endpoint")).data;
    await post(
      `${r.url}${endpoint}`,
      call(5, "echo__progress", { steps: 100, intervalMs: 500 }, { progressToken: "p5" }),
    );
    await stream.next((e) => e.data.includes('"progressToken":"p5"'));
    const inFlight = async () =>
      ((await (await fetch(`${r.url}/info`)).json()) as { config: { inFlight: number } }).config.inFlight;
    const before = await inFlight();

    // WHEN the client's stream closes
    stream.close();

    // THEN the call ends within a few seconds instead of running its 50 s
    let after = before;
    for (let i = 0; i < 100 && after > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      after = await inFlight();
    }
    expect([before, after]).toStrictEqual([1, 0]);
  }, 20_000);

  it("hand a legacy SSE message on byte for byte, so one within the body limit stays within it", async () => {
    // GIVEN replicas that take bodies up to 2,000 bytes, and an SSE stream on one of them
    const env = {
      ROUTER_STATIC_SERVICES: JSON.stringify({ echo: [await builtin()] }),
      MCP_MAX_BODY_BYTES: "2000",
    };
    const [owner, other] = await twoReplicas(env);
    const stream = await openSse(`${owner.url}/sse`);
    closers.push(async () => stream.close());
    const endpoint = (await stream.next((e) => e.event === "endpoint")).data;
    // a message of about 1,400 bytes that `JSON.stringify` would write out as about 5,600
    const pad = Array.from({ length: 250 }, () => "1e20").join(",");
    const text = `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo__echo","arguments":{"message":"big","pad":[${pad}]}}}`;
    expect([text.length < 2000, JSON.stringify(JSON.parse(text)).length > 2000]).toStrictEqual([true, true]);

    // WHEN it is posted to the replica that does not hold the stream
    const delivered = await post(`${other.url}${endpoint}`, text);

    // THEN the owner takes it and answers it on the stream
    const answer = await stream.next((e) => e.data.includes('"id":5'));
    expect(delivered.answer.status).toBe(202);
    expect(JSON.parse(answer.data)).toStrictEqual({
      jsonrpc: "2.0",
      id: 5,
      result: { content: [{ type: "text", text: "big" }] },
    });
  });

  it("answer a legacy SSE message that is not JSON with the same 415 on every replica", async () => {
    // GIVEN an SSE stream on one replica
    const env = { ROUTER_STATIC_SERVICES: JSON.stringify({ echo: [await builtin()] }) };
    const [owner, other] = [await router(env), await router(env)];
    const stream = await openSse(`${owner.url}/sse`);
    closers.push(async () => stream.close());
    const endpoint = (await stream.next((e) => e.event === "endpoint")).data;

    // WHEN a JSON-RPC message is posted to each replica as text/plain
    const asText = (url: string) =>
      post(url, JSON.stringify(call(5, "echo__echo", { message: "x" })), { "content-type": "text/plain" });
    const answers = [await asText(`${owner.url}${endpoint}`), await asText(`${other.url}${endpoint}`)];

    // THEN both refuse it alike
    const refused = [415, { code: -32600, message: "Content-Type must be application/json" }];
    expect(answers.map((a) => [a.answer.status, a.message?.error])).toStrictEqual([refused, refused]);
  });
});

describe("catalog changes", () => {
  it("reach a Streamable HTTP stream and an SSE client when a service appears in Consul", async () => {
    // GIVEN a router following Consul, which lists one service, with a GET stream and an SSE client
    const consul = await ConsulCatalogDouble.start();
    closers.push(() => consul.close());
    const upstream = new URL(await builtin());
    consul.setService("mcp-echo", [{ address: "127.0.0.1", port: Number(upstream.port) }]);
    const r = await router(
      { CONSUL_HTTP_ADDR: consul.url },
      { watchTiming: { waitSeconds: 5, minGapMs: 0, requestTimeoutMs: 2_000 } },
    );
    const session = String((await post(`${r.url}/mcp`, INITIALIZE)).answer.headers["mcp-session-id"]);
    const stream = await openSse(`${r.url}/mcp`, {
      headers: { accept: "text/event-stream", "mcp-session-id": session },
    });
    closers.push(async () => stream.close());
    const sse = new Client({ name: "sse", version: "1" });
    const heard = new Promise<void>((resolve) =>
      sse.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve()),
    );
    await sse.connect(new SSEClientTransport(new URL(`${r.url}/sse`)));
    closers.push(() => sse.close());
    const before = (await sse.listTools()).tools.map((t) => t.name);

    // WHEN a second service registers
    const fake = await FakeMcpServer.start();
    fakes.push(fake);
    consul.setService("mcp-fake", [{ address: "127.0.0.1", port: Number(new URL(fake.url).port) }]);

    // THEN both clients hear that the tool list changed, and the list has the new tool
    const event = await stream.next((e) => e.data.includes("list_changed"));
    await heard;
    expect(JSON.parse(event.data)).toStrictEqual({
      jsonrpc: "2.0",
      method: "notifications/tools/list_changed",
    });
    expect([stream.status, stream.headers["mcp-session-id"]]).toStrictEqual([200, session]);
    expect(before).toStrictEqual(["echo__echo", "echo__fail", "echo__progress"]);
    expect((await sse.listTools()).tools.map((t) => t.name)).toStrictEqual([...before, "fake__probe"]);
  });
});

describe("a batch", () => {
  it("is handled in order: an id already in flight is refused, a cancellation after its call cancels it", async () => {
    // GIVEN a router in front of the built-in tools, and a session
    const r = await router({ ROUTER_STATIC_SERVICES: JSON.stringify({ echo: [await builtin()] }) });
    const session = String((await post(`${r.url}/mcp`, INITIALIZE)).answer.headers["mcp-session-id"]);
    const headers = { "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" };
    const cancel = (requestId: number) => ({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId, reason: "changed my mind" },
    });

    // WHEN a batch reuses an id, another batch cancels its own call, and that id is used again
    const reused = await post(
      `${r.url}/mcp`,
      [call(1, "echo__echo", { message: "first" }), call(1, "echo__echo", { message: "second" })],
      headers,
    );
    const cancelled = await post(
      `${r.url}/mcp`,
      [call(2, "echo__echo", { message: "x" }), cancel(2)],
      headers,
    );
    const logged = await r.waitForLog((l) => l.msg === "request cancelled by the client");
    const again = await post(`${r.url}/mcp`, call(2, "echo__echo", { message: "again" }), headers);

    // THEN the first of the twins is answered and the second refused; the cancelled call gets no
    // answer (202) and was cancelled here; its id is free again once it has ended
    expect(reused.answer.status).toBe(200);
    expect(JSON.parse(reused.answer.text)).toStrictEqual([
      { jsonrpc: "2.0", id: 1, result: { content: [{ type: "text", text: "first" }] } },
      {
        jsonrpc: "2.0",
        id: 1,
        error: {
          code: -32600,
          message: "Invalid Request: request id 1 is already in flight in this session",
        },
      },
    ]);
    expect([cancelled.answer.status, cancelled.answer.text, logged.peerForwarded]).toStrictEqual([
      202,
      "",
      false,
    ]);
    expect(again.message).toMatchObject({ id: 2, result: { content: [{ type: "text", text: "again" }] } });
  });

  it("holding one request (with or without notifications) is answered with an array of one", async () => {
    // GIVEN a router in front of the built-in tools
    const r = await router({ ROUTER_STATIC_SERVICES: JSON.stringify({ echo: [await builtin()] }) });

    // WHEN initialize, then a call with a notification, each come as a batch
    const init = await post(`${r.url}/mcp`, `[${INITIALIZE}]`);
    const headers = {
      "mcp-session-id": String(init.answer.headers["mcp-session-id"]),
      "mcp-protocol-version": "2025-06-18",
    };
    const called = await post(
      `${r.url}/mcp`,
      [call(1, "echo__echo", { message: "one" }), { jsonrpc: "2.0", method: "notifications/initialized" }],
      headers,
    );

    // THEN each answer is a JSON array holding the one response (JSON-RPC 2.0, "Batch")
    expect([JSON.parse(init.answer.text).length, JSON.parse(called.answer.text)]).toStrictEqual([
      1,
      [{ jsonrpc: "2.0", id: 1, result: { content: [{ type: "text", text: "one" }] } }],
    ]);
  });
});

describe("open streams", () => {
  it("are capped per replica: one more gets 503 with Retry-After until one closes, and calls go on", async () => {
    // GIVEN a replica that holds at most 3 streams, holding a GET /mcp stream, a legacy SSE one
    // and a passthrough GET stream it relays
    const r = await router({
      ROUTER_STATIC_SERVICES: JSON.stringify({ echo: [await builtin()] }),
      ROUTER_MAX_STREAMS: "3",
    });
    const open = async (path: string, headers: Record<string, string>) => {
      const stream = await openSse(`${r.url}${path}`, { headers });
      closers.push(async () => stream.close());
      return stream;
    };
    const streamHeaders = async (path: string) => ({
      accept: "text/event-stream",
      "mcp-session-id": String((await post(`${r.url}${path}`, INITIALIZE)).answer.headers["mcp-session-id"]),
      "mcp-protocol-version": "2025-06-18",
    });
    const gateway = await streamHeaders("/mcp");
    const passthrough = await streamHeaders("/services/echo/mcp");
    const held = [
      await open("/mcp", gateway),
      await open("/sse", { accept: "text/event-stream" }),
      await open("/services/echo/mcp", passthrough),
    ];

    // WHEN one more stream is asked for on each endpoint, and a call is made
    const refused = [
      await rawRequest(`${r.url}/mcp`, { headers: gateway }),
      await rawRequest(`${r.url}/sse`, { headers: { accept: "text/event-stream" } }),
      await rawRequest(`${r.url}/services/echo/mcp`, { headers: passthrough }),
    ];
    const { "mcp-session-id": session, "mcp-protocol-version": version } = gateway;
    const called = await post(`${r.url}/mcp`, call(1, "echo__echo", { message: "still served" }), {
      "mcp-session-id": session,
      "mcp-protocol-version": version,
    });
    const metrics = (await rawRequest(`${r.url}/metrics`)).text;
    // …and once the SSE client and the passthrough stream have gone, streams are asked for again
    held[1]!.close();
    held[2]!.close();
    let info = { sseSessions: -1, passthroughStreams: -1 };
    for (let polls = 0; polls < 200 && info.sseSessions + info.passthroughStreams !== 0; polls++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      info = (JSON.parse((await rawRequest(`${r.url}/info`)).text) as { config: typeof info }).config;
    }
    // (a new passthrough session: the instance may not have seen the old stream's end yet)
    const reopened = [
      await open("/mcp", gateway),
      await open("/services/echo/mcp", await streamHeaders("/services/echo/mcp")),
    ];

    // THEN the extra streams were refused, the call and the later streams were not
    const full = {
      jsonrpc: "2.0",
      id: null,
      error: {
        code: -32000,
        message: "Service Unavailable: this router replica holds its most open streams (3); try again later",
      },
    };
    expect(
      refused.map((answer) => [answer.status, answer.headers["retry-after"], JSON.parse(answer.text)]),
    ).toStrictEqual([
      [503, "30", full],
      [503, "30", full],
      [503, "30", full],
    ]);
    expect([...held, ...reopened].map((stream) => stream.status)).toStrictEqual([200, 200, 200, 200, 200]);
    expect(info).toMatchObject({ sseSessions: 0, passthroughStreams: 0 });
    expect(called.message).toMatchObject({
      id: 1,
      result: { content: [{ type: "text", text: "still served" }] },
    });
    for (const transport of ["streamable-http", "sse", "passthrough"]) {
      expect(metrics).toContain(`router_streams_refused_total{transport="${transport}",service="router"} 1`);
    }
  });
});

describe("legacy SSE messages for a stream on another replica", () => {
  it("are forwarded only to a replica discovery knows, never to an address a session names", async () => {
    // GIVEN a replica, and a session sealed with the platform's key naming as its stream's
    // owner an address that is no router (one that was a router's, say, before its pod went)
    const received: string[] = [];
    const elsewhere = createServer((req, res) => {
      received.push(req.url ?? "");
      res.writeHead(202).end();
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, "127.0.0.1", resolve));
    closers.push(() => new Promise((resolve) => elsewhere.close(() => resolve())));
    const r = await router({ ROUTER_STATIC_SERVICES: JSON.stringify({ echo: [await builtin()] }) });
    const sealer = new SessionSealer({ secret: TEST_SESSION_KEY, acceptedSecrets: [], ttlSeconds: 3600 });
    const owner = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}`;
    const { token } = sealer.seal({ t: "sse", o: owner });

    // WHEN a message of that session comes
    const answer = await post(`${r.url}/messages?s=${encodeURIComponent(token)}&sessionId=x`, {
      jsonrpc: "2.0",
      id: 1,
      method: "ping",
    });

    // THEN it is answered as a session that is gone, and nothing was sent to that address
    expect([answer.answer.status, received]).toStrictEqual([404, []]);
  });
});

describe("credentials", () => {
  const TOKEN = "client-token-0123456789abcdef";

  it("ask for a bearer token on every MCP endpoint, and leave health and metrics open", async () => {
    const r = await router({
      ROUTER_STATIC_SERVICES: JSON.stringify({ echo: [await builtin()] }),
      ROUTER_AUTH_TOKENS: TOKEN,
    });
    const statuses = await Promise.all([
      rawRequest(`${r.url}/mcp`, { method: "POST", headers: { ...MCP_POST_HEADERS }, body: INITIALIZE }),
      rawRequest(`${r.url}/sse`),
      rawRequest(`${r.url}/messages?s=x&sessionId=y`, {
        method: "POST",
        headers: { ...MCP_POST_HEADERS },
        body: "{}",
      }),
      rawRequest(`${r.url}/services/echo/mcp`, {
        method: "POST",
        headers: { ...MCP_POST_HEADERS },
        body: INITIALIZE,
      }),
      rawRequest(`${r.url}/health/ready`),
      rawRequest(`${r.url}/metrics`),
      rawRequest(`${r.url}/internal/v1/cancel`, {
        method: "POST",
        headers: { ...MCP_POST_HEADERS },
        body: "{}",
      }),
    ]);
    expect(statuses.map((s) => s.status)).toStrictEqual([401, 401, 401, 401, 200, 200, 404]);
  });

  it("answer the protected-resource probe with 404 when no token is configured", async () => {
    const r = await router({ ROUTER_STATIC_SERVICES: JSON.stringify({ echo: [await builtin()] }) });
    expect((await rawRequest(`${r.url}/.well-known/oauth-protected-resource/mcp`)).status).toBe(404);
  });

  it("never reach an upstream: the passthrough relays the session, not the client's headers", async () => {
    // GIVEN a router with tokens in front of a fake service that records what it receives
    const fake = await FakeMcpServer.start();
    fakes.push(fake);
    const r = await router({
      ROUTER_STATIC_SERVICES: JSON.stringify({ fake: [fake.url] }),
      ROUTER_AUTH_TOKENS: TOKEN,
    });
    const credentials = {
      authorization: `Bearer ${TOKEN}`,
      cookie: "sid=secret",
      origin: "http://localhost:3000",
      "x-forwarded-for": "10.1.2.3",
    };

    // WHEN a client initializes through the passthrough and lists the tools
    const init = await post(`${r.url}/services/fake/mcp`, INITIALIZE, credentials);
    const session = String(init.answer.headers["mcp-session-id"]);
    const list = await post(
      `${r.url}/services/fake/mcp`,
      { jsonrpc: "2.0", id: 1, method: "tools/list" },
      { ...credentials, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" },
    );

    // THEN the service saw neither the credentials nor the client's session id, only its own
    const forwarded = fake.requests.slice(-2);
    expect(
      forwarded.map((req) => [req.headers["mcp-session-id"], req.headers["mcp-protocol-version"]]),
    ).toStrictEqual([
      [undefined, undefined],
      ["fake-session", "2025-06-18"],
    ]);
    for (const req of fake.requests) {
      expect([
        req.headers.authorization,
        req.headers.cookie,
        req.headers.origin,
        req.headers["x-forwarded-for"],
      ]).toStrictEqual([undefined, undefined, undefined, undefined]);
    }
    expect(session.startsWith("v1.")).toBe(true);
    expect(list.message).toStrictEqual({ jsonrpc: "2.0", id: 1, result: { tools: fake.tools } });
  });
});

describe("the passthrough", () => {
  it("ends the router's session with an instance that left discovery once its relayed call ends", async () => {
    // GIVEN a router following Consul, which lists a fake service, and a passthrough call it holds
    const consul = await ConsulCatalogDouble.start();
    closers.push(() => consul.close());
    const fake = await FakeMcpServer.start();
    fakes.push(fake);
    fake.behaviour = "hold";
    consul.setService("mcp-fake", [{ address: "127.0.0.1", port: Number(new URL(fake.url).port) }]);
    const r = await router(
      { CONSUL_HTTP_ADDR: consul.url },
      { watchTiming: { waitSeconds: 5, minGapMs: 0, requestTimeoutMs: 2_000 } },
    );
    const init = await post(`${r.url}/services/fake/mcp`, INITIALIZE);
    const headers = {
      "mcp-session-id": String(init.answer.headers["mcp-session-id"]),
      "mcp-protocol-version": "2025-06-18",
    };
    const relayed = post(`${r.url}/services/fake/mcp`, call(1, "probe", {}), headers);
    await fake.received("tools/call");

    // WHEN the instance leaves Consul while the call runs, and then the call ends
    consul.setService("mcp-fake", []);
    await r.waitForLog((l) => l.msg === "catalog changed");
    expect(fake.sessionsDeleted).toBe(0);
    fake.answer("done");
    expect((await relayed).message).toStrictEqual({
      jsonrpc: "2.0",
      id: 1,
      result: { content: [{ type: "text", text: "done" }] },
    });

    // THEN the router ends its own session with the instance (it lists the catalog over it)
    await fake.sessionDeleted();
    expect(fake.sessionsDeleted).toBe(1);
  });

  it("ends a session on DELETE whatever the request carries, as the instance itself does", async () => {
    // GIVEN a session through the passthrough
    const r = await router({ ROUTER_STATIC_SERVICES: JSON.stringify({ echo: [await builtin()] }) });
    const url = `${r.url}/services/echo/mcp`;
    const init = await post(url, INITIALIZE);
    const headers = {
      "mcp-session-id": String(init.answer.headers["mcp-session-id"]),
      "mcp-protocol-version": "2025-06-18",
    };

    // WHEN the client deletes it with a text body (MCP gives DELETE none)
    const deleted = await rawRequest(url, {
      method: "DELETE",
      headers: { ...headers, "content-type": "text/plain", "content-length": "3" },
      body: "bye",
    });

    // THEN the session is gone at the instance
    const after = await post(url, call(1, "echo", { message: "late" }), headers);
    expect([deleted.status, after.answer.status]).toStrictEqual([200, 404]);
  });

  it("still relays requests to an instance it holds hundreds of open streams with", async () => {
    // GIVEN one replica relaying 300 standalone streams to one instance (each holds a connection
    // to it for as long as it is open)
    const r = await router({ ROUTER_STATIC_SERVICES: JSON.stringify({ echo: [await builtin()] }) });
    const url = `${r.url}/services/echo/mcp`;
    const sessionHeaders = async () => {
      const init = await post(url, INITIALIZE);
      expect(init.answer.status).toBe(200);
      return {
        "mcp-session-id": String(init.answer.headers["mcp-session-id"]),
        "mcp-protocol-version": "2025-06-18",
      };
    };
    for (let opened = 0; opened < 300; opened++) {
      const stream = await openSse(url, {
        headers: { accept: "text/event-stream", ...(await sessionHeaders()) },
      });
      closers.push(async () => stream.close());
      expect(stream.status).toBe(200);
    }

    // WHEN another client initializes there and calls a tool
    const called = await post(url, call(1, "echo", { message: "through" }), await sessionHeaders());

    // THEN it is answered (nothing waits for one of the streams to end)
    expect(called.message).toStrictEqual({
      jsonrpc: "2.0",
      id: 1,
      result: { content: [{ type: "text", text: "through" }] },
    });
  }, 60_000);
});

describe("a replica shutting down", () => {
  /** Shuts `r` down as SIGTERM does, and takes it off the list the tests close. */
  function shutDown(r: TestRouter) {
    routers.splice(routers.indexOf(r), 1);
    const { logger, waitForLog } = awaitableLogger();
    const result: Promise<ShutdownResult> = shutdownGracefully({ app: r.app, logger, timeoutMs: 20_000 });
    return { result, waitForLog };
  }

  it("still takes a peer's cancellation of a call it is waiting for", async () => {
    // GIVEN two replicas that know each other, a slow call running on the first, which is
    // shutting down (its drain is over; it waits for its calls)
    const { a, b, session, stream } = await slowCallOnFirstOfTwoReplicas();
    await stream.next((e) => e.data.includes("notifications/progress"));
    const shutdown = shutDown(a);
    await shutdown.waitForLog((l) => l.msg === "shutdown step done" && l.step === "drain");

    // WHEN the client cancels the call through the other replica
    const cancel = await cancelCall(b, session, 7);

    // THEN the first replica aborts it (its stream ends without an answer) and closes cleanly
    const cancelled = await a.waitForLog((l) => l.msg === "request cancelled by the client");
    await stream.ended;
    expect([cancel.answer.status, cancelled.peerForwarded, await shutdown.result]).toStrictEqual([
      202,
      true,
      "drained",
    ]);
    expect(stream.events.filter((e) => e.data.includes('"result"'))).toStrictEqual([]);
  });

  it("ends a call still running once its wait for calls is over, answering it with an error", async () => {
    // GIVEN a slow call running on the first of two replicas, which waits at most 200 ms for
    // its calls when it shuts down
    const { a, stream } = await slowCallOnFirstOfTwoReplicas({ drainCallsMs: 200 });
    await stream.next((e) => e.data.includes("notifications/progress"));

    // WHEN it shuts down
    const shutdown = shutDown(a);

    // THEN the call's stream ends with an error answer (not reset unanswered at the deadline),
    // and the close completes
    await stream.ended;
    expect(stream.events.map((e) => JSON.parse(e.data) as unknown).at(-1)).toStrictEqual({
      jsonrpc: "2.0",
      id: 7,
      error: {
        code: -32603,
        message: "The router replica is shutting down and ended the call; retry it",
      },
    });
    expect(await shutdown.result).toBe("drained");
  });

  it("while draining, closes each connection after its answer and sends a new legacy SSE stream elsewhere", async () => {
    // GIVEN a replica with a client session, draining (it waits for 2 s without requests)
    const r = await router({
      ROUTER_STATIC_SERVICES: JSON.stringify({ echo: [await builtin()] }),
      ROUTER_DRAIN_QUIET_MS: "2000",
    });
    const session = {
      "mcp-session-id": String((await post(`${r.url}/mcp`, INITIALIZE)).answer.headers["mcp-session-id"]),
      "mcp-protocol-version": "2025-06-18",
    };
    const { result } = shutDown(r);
    // Each request asks to keep its connection open, as a balancer's do.
    const keepAlive = { connection: "keep-alive" };

    // WHEN the client sends a request, opens its standalone stream, and another client opens a
    // legacy SSE stream (a session that would live only as long as this replica)
    const ping = await post(
      `${r.url}/mcp`,
      { jsonrpc: "2.0", id: 1, method: "ping" },
      {
        ...session,
        ...keepAlive,
      },
    );
    const stream = await openSse(`${r.url}/mcp`, {
      headers: { accept: "text/event-stream", ...session, ...keepAlive },
    });
    closers.push(async () => stream.close());
    const sse = await rawRequest(`${r.url}/sse`, { headers: { accept: "text/event-stream", ...keepAlive } });

    // THEN the request and the stream are served and say their connection closes (a balancer's
    // next request goes to a fresh connection); the legacy SSE stream is refused with 503, to be
    // retried on another replica; and the replica still closes in time
    expect([ping.answer.status, ping.answer.headers.connection]).toStrictEqual([200, "close"]);
    expect([stream.status, stream.headers.connection]).toStrictEqual([200, "close"]);
    expect([sse.status, sse.headers.connection, sse.headers["retry-after"], messageOf(sse)]).toStrictEqual([
      503,
      "close",
      "1",
      {
        jsonrpc: "2.0",
        error: {
          code: -32000,
          message: "Service Unavailable: this router replica is shutting down; try again later",
        },
        id: null,
      },
    ]);
    await stream.ended;
    expect(await result).toBe("drained");
  });

  it("ends a passthrough stream instead of waiting on it until the deadline", async () => {
    // GIVEN a client with an open standalone stream through the passthrough
    const r = await router({ ROUTER_STATIC_SERVICES: JSON.stringify({ echo: [await builtin()] }) });
    const init = await post(`${r.url}/services/echo/mcp`, INITIALIZE);
    const stream = await openSse(`${r.url}/services/echo/mcp`, {
      headers: {
        accept: "text/event-stream",
        "mcp-session-id": String(init.answer.headers["mcp-session-id"]),
        "mcp-protocol-version": "2025-06-18",
      },
    });
    closers.push(async () => stream.close());
    expect(stream.status).toBe(200);

    // WHEN the replica shuts down / THEN the stream ends and the close completes in time
    const { result } = shutDown(r);
    await stream.ended;
    expect(await result).toBe("drained");
  });
});
