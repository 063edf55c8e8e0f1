import { request } from "node:http";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import {
  commonEnvSchema,
  createServiceApp,
  loadEnv,
  onTerminationSignals,
  shutdownGracefully,
  TERMINATION_SIGNALS,
} from "@mcp-platform/shared";
import { capturingLogger, fields } from "../../helpers/log-capture";

const env = loadEnv(commonEnvSchema({ port: 3000, serviceName: "router" }), { HOST: "127.0.0.1", PORT: "0" });

/** A promise with its resolve function exposed. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A GET over its own connection; resolves with the status and body, or the socket error code. */
function get(url: string): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      response.on("error", (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    });
    req.on("error", (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.end();
  });
}

describe("shutdownGracefully", () => {
  let app: FastifyInstance;
  let url: string;
  const entered = { current: deferred() };
  const release = { current: deferred() };
  const closing = { current: deferred() };

  beforeEach(async () => {
    entered.current = deferred();
    release.current = deferred();
    closing.current = deferred();
    const { logger } = capturingLogger("silent");
    app = createServiceApp({ env, logger, version: "0.1.0" });
    app.addHook("preClose", async () => closing.current.resolve());
    app.get("/slow", async () => {
      entered.current.resolve();
      await release.current.promise;
      return { done: true };
    });
    await app.listen({ host: "127.0.0.1", port: 0 });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    release.current.resolve();
    app.server.closeAllConnections();
    await app.close();
  });

  it("goes not-ready, runs its steps, then lets the in-flight request finish", async () => {
    // GIVEN a request in flight
    const inFlight = get(`${url}/slow`);
    await entered.current.promise;
    const { logger, lines } = capturingLogger();
    const seenInStep: unknown[] = [];

    // WHEN shutdown starts, with a step that probes readiness, and the request is then released
    const stopping = shutdownGracefully({
      app,
      logger,
      timeoutMs: 60_000,
      steps: [
        {
          name: "consul deregistration",
          run: async () => {
            const ready = await app.inject({ method: "GET", url: "/health/ready" });
            seenInStep.push(ready.statusCode, ready.json());
          },
        },
      ],
    });
    let settled = false;
    void stopping.then(() => (settled = true));
    await closing.current.promise;
    const settledBeforeRelease = settled;
    release.current.resolve();

    // THEN readiness was already false in the step, the close waited for the request, which
    // completed, and the drain was clean
    expect(settledBeforeRelease).toStrictEqual(false);
    expect(await stopping).toStrictEqual("drained");
    expect(await inFlight).toStrictEqual({ status: 200, body: '{"done":true}' });
    expect(seenInStep).toStrictEqual([503, { status: "shutting_down", checks: {}, failed: [] }]);
    expect(fields(lines, ["msg", "step"])).toStrictEqual([
      { msg: "shutdown step done", step: "consul deregistration" },
    ]);
  });

  it("destroys connections still open at the deadline", async () => {
    // GIVEN a request that never finishes by itself
    const inFlight = get(`${url}/slow`);
    await entered.current.promise;
    const { logger, lines } = capturingLogger();

    // WHEN shutdown runs with a short deadline
    const result = await shutdownGracefully({ app, logger, timeoutMs: 50 });

    // THEN the drain was forced and the client saw its connection cut
    expect(result).toStrictEqual("forced");
    expect(await inFlight).toStrictEqual({ error: "ECONNRESET" });
    expect(fields(lines, ["level", "msg", "timeoutMs"]).at(-1)).toStrictEqual({
      level: "warn",
      msg: "drain deadline passed; closing open connections",
      timeoutMs: 50,
    });
  });

  it("logs a failing step and still drains", async () => {
    // GIVEN a step that fails (Consul unreachable)
    const { logger, lines } = capturingLogger();

    // WHEN shutdown runs
    const result = await shutdownGracefully({
      app,
      logger,
      timeoutMs: 60_000,
      steps: [
        { name: "consul deregistration", run: () => Promise.reject(new Error("connect ECONNREFUSED")) },
      ],
    });

    // THEN
    expect(result).toStrictEqual("drained");
    expect(fields(lines, ["level", "msg", "step", "err"])).toStrictEqual([
      {
        level: "warn",
        msg: "shutdown step failed",
        step: "consul deregistration",
        err: "connect ECONNREFUSED",
      },
    ]);
  });
});

describe("shutdownGracefully with the app's own steps (beforeClose)", () => {
  it("runs them after the caller's steps, while still serving, and closes only after them", async () => {
    // GIVEN an app whose own step (a drain) serves a request while it runs
    const order: string[] = [];
    const { logger, lines } = capturingLogger();
    const app = createServiceApp(
      { env, logger: capturingLogger("silent").logger, version: "0.1.0" },
      {
        beforeClose: [
          {
            name: "drain",
            run: async () => {
              const served = await app.inject({ method: "GET", url: "/ping" });
              order.push(`drain (ping ${served.statusCode})`);
            },
          },
        ],
      },
    );
    app.get("/ping", async () => "pong");
    app.addHook("preClose", async () => void order.push("close"));
    await app.ready();

    // WHEN shutdown runs with a deregistration step of the caller's
    const result = await shutdownGracefully({
      app,
      logger,
      timeoutMs: 60_000,
      steps: [{ name: "consul deregistration", run: async () => void order.push("deregistration") }],
    });

    // THEN deregistration, then the drain (the app still answered), then the close
    expect(result).toStrictEqual("drained");
    expect(order).toStrictEqual(["deregistration", "drain (ping 200)", "close"]);
    expect(fields(lines, ["msg", "step"])).toStrictEqual([
      { msg: "shutdown step done", step: "consul deregistration" },
      { msg: "shutdown step done", step: "drain" },
    ]);
  });
});

describe("onTerminationSignals", () => {
  it("listens to SIGTERM and SIGINT until disposed", () => {
    // GIVEN a handler
    const handler = () => undefined;

    // WHEN installed, then disposed
    const dispose = onTerminationSignals(handler);
    const installed = TERMINATION_SIGNALS.map((signal) => process.listeners(signal).includes(handler));
    dispose();
    const after = TERMINATION_SIGNALS.map((signal) => process.listeners(signal).includes(handler));

    // THEN
    expect(TERMINATION_SIGNALS).toStrictEqual(["SIGTERM", "SIGINT"]);
    expect(installed).toStrictEqual([true, true]);
    expect(after).toStrictEqual([false, false]);
  });
});
