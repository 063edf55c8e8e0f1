/**
 * The mcp-server's session registry: idle Streamable HTTP sessions expire, sessions in use do not,
 * and the number of open sessions is bounded (a real process refuses the one over the limit).
 */
import { createServer, IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Socket } from "node:net";
import type { Multiplexer } from "../../../services/mcp-server/src/bridge/multiplexer";
import { McpMetrics } from "../../../services/mcp-server/src/metrics";
import { Sessions } from "../../../services/mcp-server/src/sessions";
import { Registry } from "prom-client";
import type { McpServerUnderTest } from "../../helpers/mcp-server-process";
import {
  initializeBody,
  RAW_PROTOCOL,
  rawPost,
  startMcpServer,
  stopMcpServers,
} from "../../helpers/mcp-server-process";
import { capturingLogger } from "../../helpers/log-capture";

jest.setTimeout(30_000);

const IDLE_MS = 60_000;
const PROTOCOL = RAW_PROTOCOL;

/**
 * A registry on a hand-driven clock; the multiplexer only records what is attached and hands each
 * message to `handleClient`.
 */
function registry(maxSessions = 100, handleClient: () => Promise<void> = async () => undefined) {
  let now = 1_000_000;
  const attached = new Set<unknown>();
  const mux = {
    attach: (session: unknown) => attached.add(session),
    detach: (session: unknown) => attached.delete(session),
    handleClient,
  } as unknown as Multiplexer;
  const { logger, lines } = capturingLogger();
  const sessions = new Sessions({
    mux,
    metrics: new McpMetrics(new Registry()),
    logger,
    idleTimeoutMs: IDLE_MS,
    maxSessions,
    keepAliveMs: 60_000,
    now: () => now,
  });
  return {
    sessions,
    attached,
    lines,
    advance: (ms: number) => (now += ms),
  };
}

/** A response object for a session to write to, with no connection under it. */
function response(): ServerResponse {
  return new ServerResponse(new IncomingMessage(new Socket()));
}

let open: Sessions[] = [];
afterEach(async () => {
  await Promise.all(open.map((s) => s.closeAll()));
  open = [];
});

describe("idle Streamable HTTP sessions", () => {
  it("a session without requests for longer than the idle timeout is closed", async () => {
    // GIVEN a session last used just over the idle timeout ago
    const r = registry();
    open.push(r.sessions);
    const session = r.sessions.createStreamable();
    r.advance(IDLE_MS + 1);

    // WHEN idle sessions are swept / THEN it is gone, and detached from the multiplexer
    expect(await r.sessions.expireIdle()).toBe(1);
    expect([r.sessions.streamable(session.id), r.attached.size]).toStrictEqual([undefined, 0]);
  });

  it("a session with its standalone stream open is not idle; its idle time starts when the stream closes", async () => {
    // GIVEN a session whose client keeps its GET stream open (an idle SDK client does)
    const r = registry();
    open.push(r.sessions);
    const session = r.sessions.createStreamable();
    const stream = response();
    expect(session.openStream(stream)).toBe(true);

    // WHEN twice the idle timeout passes without a request
    r.advance(IDLE_MS + 1);
    const whileOpen = await r.sessions.expireIdle();
    r.advance(IDLE_MS + 1);
    const stillOpen = await r.sessions.expireIdle();

    // THEN it is kept
    expect([whileOpen, stillOpen, r.sessions.size]).toStrictEqual([0, 0, 1]);

    // AND WHEN the stream closes, it is kept for one more idle timeout, then closed
    stream.emit("close");
    r.advance(IDLE_MS - 1);
    const justClosed = await r.sessions.expireIdle();
    r.advance(2);
    const expired = await r.sessions.expireIdle();
    expect([justClosed, expired, r.sessions.size]).toStrictEqual([0, 1, 0]);
  });

  it("a session whose client waits on a call is not idle", async () => {
    // GIVEN a session with a long call in flight
    const r = registry();
    open.push(r.sessions);
    const session = r.sessions.createStreamable();
    session.post(
      [{ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "slow", arguments: {} } }],
      false,
      response(),
    );

    // WHEN longer than the idle timeout passes / THEN the session and its call stay
    r.advance(IDLE_MS + 1);
    expect([await r.sessions.expireIdle(), r.sessions.size, session.inUse]).toStrictEqual([0, 1, true]);
  });

  it("a request whose client went away does not keep its session", async () => {
    // GIVEN a session with a call in flight whose client closed the connection
    const r = registry();
    open.push(r.sessions);
    const session = r.sessions.createStreamable();
    const post = response();
    session.post(
      [{ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "slow", arguments: {} } }],
      false,
      post,
    );
    post.destroy();

    // WHEN longer than the idle timeout passes / THEN the session is closed
    r.advance(IDLE_MS + 1);
    expect([session.inUse, await r.sessions.expireIdle(), r.sessions.size]).toStrictEqual([false, 1, 0]);
  });
});

describe("a message the multiplexer fails on", () => {
  it("is logged, a request gets an internal error, and the session goes on", async () => {
    // GIVEN sessions whose multiplexer throws on the first message it is handed (a bug)
    let calls = 0;
    const { sessions, lines } = registry(100, async () => {
      calls++;
      if (calls === 1) throw new Error("a bug in the multiplexer");
    });
    open.push(sessions);
    const session = sessions.createStreamable();
    const server = createServer((_req, res) => {
      session.post([{ jsonrpc: "2.0", id: 5, method: "tools/list" }], false, res);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      // WHEN a request of the session is posted
      const answer = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);

      // THEN its POST is answered with an internal error, the failure is logged, and the next
      // message of the session still reaches the multiplexer
      expect(await answer.json()).toStrictEqual({
        jsonrpc: "2.0",
        id: 5,
        error: { code: -32603, message: "Internal error" },
      });
      expect(lines.filter((l) => l.msg === "message handling failed").map((l) => l.session)).toStrictEqual([
        session.id,
      ]);
      session.post([{ jsonrpc: "2.0", method: "notifications/initialized" }], false, response());
      expect(calls).toBe(2);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe("the session limit", () => {
  it("admits sessions up to the limit, refuses the next with one log line, and admits again once one closes", () => {
    // GIVEN a registry holding its most sessions (2)
    const r = registry(2);
    open.push(r.sessions);
    const first = r.sessions.createStreamable();
    r.sessions.createStreamable();

    // WHEN two more are asked for
    const refused = [r.sessions.admit(), r.sessions.admit()];

    // THEN both are refused, logged once
    expect(refused).toStrictEqual([false, false]);
    expect(r.lines.filter((l) => l.level === "warn").map((l) => l.msg)).toStrictEqual([
      "session limit reached; new sessions are refused until some close",
    ]);

    // AND WHEN one closes, another is admitted
    r.sessions.closeStreamable(first.id, "deleted by the client");
    expect(r.sessions.admit()).toBe(true);
  });
});

describe("the session limit on the wire", () => {
  let server: McpServerUnderTest;
  beforeAll(async () => {
    server = await startMcpServer({ MCP_MAX_SESSIONS: "2" });
  });
  afterAll(async () => {
    await stopMcpServers(server);
  });

  const initialize = () => rawPost(`${server.base}/mcp`, initializeBody());

  it("a session over MCP_MAX_SESSIONS gets 503 with Retry-After on both transports; the open ones keep working", async () => {
    // GIVEN a server with MCP_MAX_SESSIONS=2 holding two sessions
    const sessions = [await initialize(), await initialize()];
    const ids = sessions.map((s) => s.headers.get("mcp-session-id")!);

    // WHEN a third Streamable HTTP session and a legacy SSE session are asked for
    const third = await initialize();
    const sse = await fetch(`${server.base}/sse`, { headers: { accept: "text/event-stream" } });
    const sseBody = (await sse.json()) as unknown;

    // THEN both are refused with 503, Retry-After and a JSON-RPC error
    const refusal = {
      jsonrpc: "2.0",
      error: {
        code: -32000,
        message: "Service Unavailable: this server holds its most sessions (2); try again later",
      },
      id: null,
    };
    expect([third.status, third.headers.get("retry-after"), JSON.parse(third.text)]).toStrictEqual([
      503,
      "30",
      refusal,
    ]);
    expect([sse.status, sse.headers.get("retry-after"), sseBody]).toStrictEqual([503, "30", refusal]);

    // AND the open sessions still answer
    const echo = await rawPost(
      `${server.base}/mcp`,
      JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "echo", arguments: { message: "still here" } },
      }),
      { "mcp-session-id": ids[0]!, "mcp-protocol-version": PROTOCOL },
    );
    expect(JSON.parse(echo.text)).toStrictEqual({
      jsonrpc: "2.0",
      id: 1,
      result: { content: [{ type: "text", text: "still here" }] },
    });

    // AND WHEN one session is deleted, a new one opens
    const deleted = await fetch(`${server.base}/mcp`, {
      method: "DELETE",
      headers: { "mcp-session-id": ids[1]!, "mcp-protocol-version": PROTOCOL },
    });
    expect([deleted.status, (await initialize()).status]).toStrictEqual([200, 200]);
  });
});
