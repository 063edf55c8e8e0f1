import { Registry } from "prom-client";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import type { FastifyInstance } from "fastify";
import { RouterMetrics } from "../../../services/router/src/metrics";
import {
  failedBeforeSending,
  isUpstreamLost,
} from "../../../services/router/src/upstream/upstream-transport";
import { MAX_UPSTREAM_ANSWER_BYTES } from "../../../services/router/src/upstream/upstream-fetch";
import type { InstancePin } from "../../../services/router/src/upstream/upstreams";
import { Upstreams } from "../../../services/router/src/upstream/upstreams";
import { fakeOnly } from "../../helpers/fake-timers";
import { capturingLogger, silentLogger } from "../../helpers/log-capture";
import { awaitableLogger } from "../../helpers/router-app";
import { refusedPort } from "../../helpers/refused-port";
import {
  ANSWERS_WITHOUT_RESPONSE,
  FakeMcpServer,
  jsonRpcMethod,
  startBuiltinServer,
} from "../../helpers/router-upstreams";

const EJECTION = { failuresToEject: 3, baseMs: 60_000, maxMs: 60_000 };
const echo = (message: string) => ({
  method: "tools/call",
  params: { name: "echo", arguments: { message } },
});

let upstreams: Upstreams | undefined;
const apps: FastifyInstance[] = [];
const fakes: FakeMcpServer[] = [];

afterEach(async () => {
  jest.useRealTimers();
  await upstreams?.close();
  upstreams = undefined;
  await Promise.all(apps.splice(0).map((app) => app.close()));
  await Promise.all(fakes.splice(0).map((fake) => fake.close()));
});

function pool(logger = silentLogger()): { upstreams: Upstreams; metrics: RouterMetrics; registry: Registry } {
  const registry = new Registry();
  const metrics = new RouterMetrics(registry);
  upstreams = new Upstreams({ logger, metrics, ejection: EJECTION });
  return { upstreams, metrics, registry };
}

/** A fake instance, the only one of service "fake" in a fresh pool. */
async function oneFake(): Promise<{ fake: FakeMcpServer; u: Upstreams }> {
  const fake = await FakeMcpServer.start();
  fakes.push(fake);
  const { upstreams: u } = pool();
  u.update(new Map([["fake", [fake.url]]]));
  return { fake, u };
}

/** Resolves with `value` after every microtask queued so far has run (one turn of the event loop). */
const afterThisTurn = <T>(value: T) => new Promise<T>((resolve) => setImmediate(() => resolve(value)));

const text = (result: unknown) => (result as { content: { text: string }[] }).content[0]?.text;

describe("Upstreams.forward", () => {
  it("retries on another instance only when the first was never reached, and ejects it", async () => {
    // GIVEN a service with a dead instance and a live one
    const live = await startBuiltinServer();
    apps.push(live.app);
    const dead = `http://127.0.0.1:${await refusedPort()}/mcp`;
    const { logger, lines } = capturingLogger("info");
    const { upstreams: u, registry } = pool(logger);
    u.update(new Map([["echo", [dead, live.url]]]));

    // WHEN six calls are forwarded one after another
    const answers: unknown[] = [];
    for (let i = 0; i < 6; i++) answers.push(text(await u.forward("echo", echo(`m${i}`))));

    // THEN all succeeded on the live instance; the dead one cost retries until it was ejected
    expect(answers).toStrictEqual(["m0", "m1", "m2", "m3", "m4", "m5"]);
    const retries = (await registry.getSingleMetric("router_upstream_retries_total")?.get())?.values ?? [];
    expect(retries.map((v) => [v.labels, v.value])).toStrictEqual([
      [{ service: "echo", reason: "refused" }, 3],
    ]);
    expect(
      lines.filter((l) => l.msg === "instance ejected").map((l) => [l.instance, l.failures]),
    ).toStrictEqual([[dead, 3]]);
    expect(u.available("echo").map((i) => i.url)).toStrictEqual([live.url]);
  });

  it("does not retry a call whose stream ended without an answer, and fails it at once", async () => {
    // GIVEN two fake instances whose call streams end without an answer
    const [a, b] = [await FakeMcpServer.start(), await FakeMcpServer.start()];
    fakes.push(a, b);
    a.behaviour = "end-without-answer";
    b.behaviour = "reset-mid-stream";
    const { upstreams: u } = pool();
    u.update(new Map([["fake", [a.url, b.url]]]));

    // WHEN a call is forwarded to each (least outstanding takes turns)
    const first = u
      .forward("fake", { method: "tools/call", params: { name: "probe" } })
      .catch((e: unknown) => e);
    const second = u
      .forward("fake", { method: "tools/call", params: { name: "probe" } })
      .catch((e: unknown) => e);
    const errors = await Promise.all([first, second]);

    // THEN each failed with the instance's failure, not a timeout, and each reached one instance
    expect(
      errors.map((e) => [e instanceof McpError, (e as McpError).code, (e as Error).message]),
    ).toStrictEqual([
      [true, ErrorCode.InternalError, 'MCP error -32603: The instance of "fake" failed during the request'],
      [true, ErrorCode.InternalError, 'MCP error -32603: The instance of "fake" failed during the request'],
    ]);
    const calls = (fake: FakeMcpServer) =>
      fake.requests.filter((r) => jsonRpcMethod(r) === "tools/call").length;
    expect([calls(a), calls(b)]).toStrictEqual([1, 1]);
  });

  it.each(ANSWERS_WITHOUT_RESPONSE)(
    "fails a call at once, not at its timeout, when the instance's answer is %s",
    async (behaviour) => {
      // GIVEN an instance that answers calls over HTTP without a JSON-RPC response to them
      const { fake, u } = await oneFake();
      fake.behaviour = behaviour;

      // WHEN a call is forwarded (with a timeout longer than this test may run)
      const error = await u
        .forward("fake", { method: "tools/call", params: { name: "probe" } }, { timeout: 600_000 })
        .catch((e: unknown) => e);

      // THEN it failed as the instance's failure
      expect([(error as McpError).code, (error as Error).message]).toStrictEqual([
        ErrorCode.InternalError,
        'MCP error -32603: The instance of "fake" failed during the request',
      ]);
    },
  );

  it("fails at once, without waiting for the connect timeout, when initialize's stream ends unanswered", async () => {
    // GIVEN an instance that answers initialize with an SSE stream it ends without the answer
    const { fake, u } = await oneFake();
    fake.initializeBehaviour = "end-without-answer";

    // WHEN a call is forwarded (the session with the instance is opened first)
    const error = await u
      .forward("fake", { method: "tools/call", params: { name: "probe" } })
      .catch((e: unknown) => e);

    // THEN it failed as a lost instance (the connect timeout, 10 s, would outlast this test),
    // and the call itself was never sent
    expect([(error as McpError).code, (error as Error).message]).toStrictEqual([
      ErrorCode.InternalError,
      'MCP error -32603: The instance of "fake" failed during the request',
    ]);
    expect(fake.requests.map(jsonRpcMethod)).toStrictEqual(["initialize"]);
  });

  it("re-creates its session when an instance restarted and forgot it", async () => {
    // GIVEN a session with an instance
    const first = await startBuiltinServer();
    const { upstreams: u } = pool();
    u.update(new Map([["echo", [first.url]]]));
    expect(text(await u.forward("echo", echo("before")))).toBe("before");

    // WHEN the instance restarts on the same port, with no memory of the session
    await first.app.close();
    const second = await startBuiltinServer(first.port);
    apps.push(second.app);

    // THEN the next call succeeds on a new session
    expect(text(await u.forward("echo", echo("after")))).toBe("after");
  });

  it("passes an upstream's own JSON-RPC error through without counting it against the instance", async () => {
    const live = await startBuiltinServer();
    apps.push(live.app);
    const { upstreams: u } = pool();
    u.update(new Map([["echo", [live.url]]]));
    const error = await u.forward("echo", { method: "no/such/method" }).catch((e: unknown) => e);
    expect([(error as McpError).code, u.available("echo")[0]?.health.consecutiveFailures]).toStrictEqual([
      ErrorCode.MethodNotFound,
      0,
    ]);
  });

  it("answers a call whose answer nests too deep to be written out again with an error, and keeps the instance", async () => {
    // GIVEN the only instance of a service, answering a call with structured content nested
    // 10,000 levels deep (JSON.stringify, writing it to the client, would overflow the stack)
    const { fake, u } = await oneFake();
    fake.behaviour = "answer-nested-too-deep";

    // WHEN a call is forwarded
    const error = await u.forward("fake", echo("deep")).catch((e: unknown) => e);

    // THEN it fails with an error that says why, and the instance is not held responsible
    expect([
      error instanceof McpError,
      (error as McpError).code,
      (error as McpError).message,
      u.available("fake")[0]?.health.consecutiveFailures,
    ]).toStrictEqual([
      true,
      ErrorCode.InternalError,
      "MCP error -32603: The instance's answer is nested deeper than 128 levels and cannot be sent",
      0,
    ]);
  });

  it("answers a call the instance refuses as too large with an error, and keeps the instance", async () => {
    // GIVEN the only instance of a service, which accepts bodies up to 2,000 bytes
    const small = await startBuiltinServer(0, { MCP_MAX_BODY_BYTES: "2000" });
    apps.push(small.app);
    const { upstreams: u, registry } = pool();
    u.update(new Map([["echo", [small.url]]]));

    // WHEN more calls than it takes to eject an instance are too large for it
    const errors = [];
    for (let i = 0; i < EJECTION.failuresToEject + 1; i++) {
      errors.push(await u.forward("echo", echo("x".repeat(3_000))).catch((e: unknown) => e));
    }

    // THEN each is an invalid-request error naming the refusal, the instance stays in rotation,
    // and the next call that fits goes through
    expect(errors.map((e) => [(e as McpError).code, (e as McpError).message])).toStrictEqual(
      errors.map(() => [
        ErrorCode.InvalidRequest,
        "MCP error -32600: The instance refused the request (HTTP 413): the request is larger than the instance accepts",
      ]),
    );
    expect(u.available("echo").map((i) => [i.url, i.health.consecutiveFailures])).toStrictEqual([
      [small.url, 0],
    ]);
    expect(text(await u.forward("echo", echo("fits")))).toBe("fits");
    const outcomes = (await registry.getSingleMetric("router_upstream_requests_total")?.get())?.values ?? [];
    expect(outcomes.map((v) => [v.labels.outcome, v.value])).toStrictEqual([
      ["error", EJECTION.failuresToEject + 1],
      ["ok", 1],
    ]);
  });

  it.each(["endless-json", "endless-event"] as const)(
    "fails a call whose answer (%s) runs past the limit, having read a bounded amount, and keeps the instance",
    async (behaviour) => {
      // GIVEN the only instance of a service, answering a call with a JSON body (or one SSE
      // event) that never ends
      const { fake, u } = await oneFake();
      fake.behaviour = behaviour;

      // WHEN a call is forwarded
      const error = await u.forward("fake", echo("endless")).catch((e: unknown) => e);

      // THEN it fails on the size, the instance wrote a bounded amount, and it is not held
      // responsible (it answers; the answer is the problem)
      expect([
        (error as McpError).code,
        (error as McpError).message,
        u.available("fake")[0]?.health.consecutiveFailures,
      ]).toStrictEqual([
        ErrorCode.InternalError,
        `MCP error -32603: The upstream instance's answer is larger than ${MAX_UPSTREAM_ANSWER_BYTES} bytes`,
        0,
      ]);
      expect(fake.endlessBytes).toBeLessThan(2 * MAX_UPSTREAM_ANSWER_BYTES);
    },
  );

  it("never settles one call with an answer to another sent on its stream", async () => {
    // GIVEN a call held by the only instance
    const { fake, u } = await oneFake();
    fake.behaviour = "hold";
    const held = u.forward("fake", echo("held"));
    await fake.received("tools/call");

    // WHEN a second call's stream first carries an answer to the held call, then its own
    fake.behaviour = "answer-held-call-first";
    const second = await u.forward("fake", echo("second"));

    // THEN the second call got its own answer, and the held one is still running until the
    // instance answers it
    const settled = await Promise.race([held.then(() => "settled"), afterThisTurn("running")]);
    expect([text(second), settled]).toStrictEqual(["own", "running"]);
    fake.answer("held's own");
    expect(text(await held)).toBe("held's own");
  });

  it("closes the session of an instance that left discovery once its last request ends", async () => {
    // GIVEN a call held by an instance
    const { fake, u } = await oneFake();
    fake.behaviour = "hold";
    const call = u.forward("fake", { method: "tools/call", params: { name: "probe", arguments: {} } });
    await fake.received("tools/call");
    const [instance] = u.available("fake");

    // WHEN the instance leaves discovery while the call runs, and then the call ends
    u.update(new Map());
    expect([instance?.removed, fake.sessionsDeleted]).toStrictEqual([true, 0]);
    fake.answer("done");
    expect(text(await call)).toBe("done");

    // THEN its session is ended upstream with the last request
    await fake.sessionDeleted();
    expect([instance?.outstanding, fake.sessionsDeleted]).toStrictEqual([0, 1]);
  });

  it("closes even when an instance never answers the DELETE of its session", async () => {
    // GIVEN a session with an instance that will hold a DELETE open forever
    const { fake, u } = await oneFake();
    fake.deleteBehaviour = "hang";
    expect(text(await u.forward("fake", echo("before")))).toBe("fake");

    // WHEN the pool closes (the replica shuts down) / THEN it asked to end the session, and closed
    // anyway once its wait for the answer was over
    await u.close();
    upstreams = undefined;
    expect(fake.sessionsDeleted).toBe(1);
  });

  it("lets an ejected instance back once a probe reaches it", async () => {
    // GIVEN an instance that is down, ejected after three refused calls (probes every 20 ms)
    const port = await refusedPort();
    const { logger, waitForLog } = awaitableLogger();
    const registry = new Registry();
    upstreams = new Upstreams({
      logger,
      metrics: new RouterMetrics(registry),
      ejection: { failuresToEject: 3, baseMs: 20, maxMs: 20 },
    });
    const url = `http://127.0.0.1:${port}/mcp`;
    upstreams.update(new Map([["echo", [url]]]));
    for (let i = 0; i < 3; i++) await upstreams.forward("echo", echo("x")).catch(() => undefined);
    const ejected = upstreams.available("echo").length;

    // WHEN the instance comes up on its address
    const server = await startBuiltinServer(port);
    apps.push(server.app);
    await waitForLog((l) => l.msg === "instance back in rotation");

    // THEN it takes calls again
    expect([ejected, text(await upstreams.forward("echo", echo("back")))]).toStrictEqual([0, "back"]);
  });

  it("times out a call that goes quiet, but not one that keeps reporting progress", async () => {
    // GIVEN an instance that holds each call open and sends its progress and answer only when
    // told, a session with it (opened on real timers, so undici's shared timer is a real one),
    // then a fake clock for the SDK's call timeout of 600 ms: time passes only when the test
    // advances it, so no stall of the event loop can decide the outcome
    const { fake, u } = await oneFake();
    await u.forward("fake", { method: "tools/list" });
    fake.behaviour = "hold";
    // Only setTimeout is faked: the SDK's call timeout; sockets and setImmediate stay real.
    fakeOnly("timeout");
    const probe = { method: "tools/call", params: { name: "probe" } };
    const timing = { timeout: 600, resetTimeoutOnProgress: true };
    const outcome = (call: Promise<unknown>) =>
      call.then(text, (e: unknown) => (e instanceof McpError ? e.code : e));

    // WHEN a call with a progress handler gets progress after each 599 ms, four times its
    // timeout in all, then its answer
    const seen: number[] = [];
    let progressed = (): void => undefined;
    const withProgress = outcome(
      u.forward("fake", probe, {
        ...timing,
        onprogress: (p) => {
          seen.push(p.progress);
          progressed();
        },
      }),
    );
    await fake.received("tools/call");
    const steps: unknown[] = [];
    for (const step of [1, 2, 3]) {
      jest.advanceTimersByTime(599);
      const reported = new Promise<number>((resolve) => (progressed = () => resolve(step)));
      fake.progress(step);
      // The step, or what the call came to had it ended first (its timeout's error code)
      steps.push(await Promise.race([reported, withProgress]));
    }
    jest.advanceTimersByTime(599);
    fake.answer("done");
    const answered = await withProgress;

    // AND a call without one gets nothing for 599 ms, then for 1 ms more
    const quiet = outcome(u.forward("fake", probe, timing));
    await fake.received("tools/call", 2);
    jest.advanceTimersByTime(599);
    const early = await Promise.race([quiet, afterThisTurn("pending")]);
    jest.advanceTimersByTime(1);
    const late = await Promise.race([quiet, afterThisTurn("pending")]);

    // THEN progress kept the first alive to its answer; the second timed out at 600 ms exactly
    expect([steps, seen, answered]).toStrictEqual([[1, 2, 3], [1, 2, 3], "done"]);
    expect([early, late]).toStrictEqual(["pending", ErrorCode.RequestTimeout]);
  });

  it("closes a cancelled call's upstream stream, so its connection does not stay open", async () => {
    // GIVEN an instance that streams a call's answer but never sends it
    const { fake, u } = await oneFake();
    fake.behaviour = "never-answer";
    const controller = new AbortController();
    const call = u
      .forward("fake", { method: "tools/call", params: { name: "probe" } }, { signal: controller.signal })
      .catch((e: unknown) => e);
    await fake.received("tools/call");

    // WHEN the caller cancels it
    controller.abort("the client cancelled");

    // THEN the call ends, the instance is told, and the stream it held open is closed
    expect(((await call) as McpError).message).toBe("MCP error -32001: the client cancelled");
    await fake.callStreamClosed();
    const cancel = fake.requests.find((r) => jsonRpcMethod(r) === "notifications/cancelled");
    expect((cancel?.body as { params?: { reason?: string } }).params?.reason).toBe("the client cancelled");
  });

  it("sends a pinned run of requests to the instance that answered the first, and nowhere else once it left", async () => {
    // GIVEN a service with two instances and a pin
    const [a, b] = [await FakeMcpServer.start(), await FakeMcpServer.start()];
    fakes.push(a, b);
    const { upstreams: u } = pool();
    u.update(new Map([["fake", [a.url, b.url]]]));
    const pin: InstancePin = {};

    // WHEN four requests are forwarded with the pin
    for (let i = 0; i < 4; i++) await u.forward("fake", { method: "tools/list" }, {}, pin);

    // THEN one instance answered them all
    const listed = [a, b].map((f) => f.requests.filter((r) => jsonRpcMethod(r) === "tools/list").length);
    expect([...listed].sort()).toStrictEqual([0, 4]);

    // AND WHEN the pinned instance leaves discovery, a pinned request fails rather than go to the other
    u.update(new Map([["fake", [pin.instance === undefined || pin.instance.url === a.url ? b.url : a.url]]]));
    await expect(u.forward("fake", { method: "tools/list" }, {}, pin)).rejects.toThrow(
      `The instance of service "fake" that answered this run's first request can take no more`,
    );
    expect(
      [a, b].map((f) => f.requests.filter((r) => jsonRpcMethod(r) === "tools/list").length),
    ).toStrictEqual(listed);
  });

  it("says there is no healthy instance when a service has none", async () => {
    const { upstreams: u } = pool();
    await expect(u.forward("nothing", echo("x"))).rejects.toThrow('No healthy instance of service "nothing"');
  });
});

describe("failedBeforeSending", () => {
  it("is true for a refused connection only", async () => {
    const refused = await fetch(`http://127.0.0.1:${await refusedPort()}/`).catch((e: unknown) => e);
    const reset = Object.assign(new TypeError("fetch failed"), {
      cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }),
    });
    expect([
      failedBeforeSending(refused),
      failedBeforeSending(reset),
      failedBeforeSending(new Error("x")),
    ]).toStrictEqual([true, false, false]);
    expect(isUpstreamLost(new McpError(-32000, "x", { routerReason: "upstream-lost" }))).toBe(true);
  });
});
