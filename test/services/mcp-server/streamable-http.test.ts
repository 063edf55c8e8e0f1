/**
 * How the mcp-server answers Streamable HTTP requests, seen on the wire of a real process: a
 * quick call is one JSON body, a call that reports progress becomes an SSE stream, ids are
 * checked per session, and closing a session answers what it still had in flight.
 */
import { request } from "node:http";
import type { IncomingMessage } from "node:http";
import type { McpServerUnderTest } from "../../helpers/mcp-server-process";
import {
  initializeBody,
  RAW_PROTOCOL,
  rawPost,
  startMcpServer,
  stopMcpServers,
} from "../../helpers/mcp-server-process";

jest.setTimeout(30_000);

const PROTOCOL = RAW_PROTOCOL;
let server: McpServerUnderTest;

beforeAll(async () => {
  server = await startMcpServer();
});

afterAll(async () => {
  await stopMcpServers(server);
});

/** Opens a session with raw HTTP; returns a POST helper bound to it. */
async function openSession() {
  const init = await rawPost(`${server.base}/mcp`, initializeBody());
  const id = init.headers.get("mcp-session-id")!;
  const headers = { "mcp-session-id": id, "mcp-protocol-version": PROTOCOL };
  const post = (body: unknown) => rawPost(`${server.base}/mcp`, JSON.stringify(body), headers);
  await post({ jsonrpc: "2.0", method: "notifications/initialized" });
  return { id, headers, post, init };
}

/** The `data:` payloads of an SSE body, parsed. */
const events = (text: string) =>
  text
    .split("\n")
    .filter((line) => line.startsWith("data: "))
    .map((line) => JSON.parse(line.slice(6)) as Record<string, unknown>);

/** A tool's text answer to request `id`. */
const answer = (id: number, text: string) => ({
  jsonrpc: "2.0",
  id,
  result: { content: [{ type: "text", text }] },
});

const call = (id: number, name: string, args: Record<string, unknown>, meta?: Record<string, unknown>) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name, arguments: args, ...(meta ? { _meta: meta } : {}) },
});

/**
 * POSTs a long `progress` call (50 steps, 200 ms apart) with id `id` in a session and resolves
 * once its answer has started streaming; `ended` then gives the whole body once it ends.
 */
async function startLongCall(
  headers: Record<string, string>,
  id: number,
): Promise<{ ended: Promise<string> }> {
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(`${server.base}/mcp`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        ...headers,
      },
    });
    req.on("response", resolve).on("error", reject);
    req.end(JSON.stringify(call(id, "progress", { steps: 50, intervalMs: 200 }, { progressToken: 1 })));
  });
  let text = "";
  response.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
  return { ended: new Promise((resolve) => response.once("end", () => resolve(text))) };
}

describe("Streamable HTTP on the wire", () => {
  test("initialize and a quick call are answered with one JSON body carrying the session id", async () => {
    // GIVEN a session
    const session = await openSession();
    // WHEN echo is called
    const res = await session.post(call(1, "echo", { message: "hi" }));
    // THEN both answers are plain JSON with the session header
    expect([session.init.status, session.init.headers.get("content-type")]).toStrictEqual([
      200,
      "application/json",
    ]);
    expect([res.status, res.headers.get("content-type"), res.headers.get("mcp-session-id")]).toStrictEqual([
      200,
      "application/json",
      session.id,
    ]);
    expect(JSON.parse(res.text)).toStrictEqual(answer(1, "hi"));
  });

  test("a call that reports progress is answered as an SSE stream: the progress, then the result", async () => {
    // GIVEN a session / WHEN the progress tool runs with a progress token
    const session = await openSession();
    const res = await session.post(
      call(2, "progress", { steps: 3, intervalMs: 10 }, { progressToken: "tok" }),
    );
    // THEN the answer is a stream of three progress notifications followed by the result
    expect([res.status, res.headers.get("content-type")]).toStrictEqual([200, "text/event-stream"]);
    expect(events(res.text)).toStrictEqual([
      ...[0, 1, 2].map((progress) => ({
        jsonrpc: "2.0",
        method: "notifications/progress",
        params: { progressToken: "tok", progress, total: 3, message: `step ${progress + 1} of 3` },
      })),
      answer(2, "done after 3 steps"),
    ]);
  });

  test("a batch is answered in request order, whichever answer came first", async () => {
    // GIVEN a session / WHEN a slow and a quick call are sent in one batch
    const session = await openSession();
    const res = await session.post([
      call(3, "progress", { steps: 2, intervalMs: 20 }),
      call(4, "echo", { message: "quick" }),
    ]);
    // THEN one JSON array holds both answers in request order
    expect(JSON.parse(res.text)).toStrictEqual([answer(3, "done after 2 steps"), answer(4, "quick")]);
  });

  test("a batch holding one request is answered with an array of one", async () => {
    // GIVEN a session / WHEN one call comes as a batch, with a notification
    const session = await openSession();
    const res = await session.post([
      call(9, "echo", { message: "one" }),
      { jsonrpc: "2.0", method: "notifications/initialized" },
    ]);
    // THEN the answer is a JSON array (JSON-RPC 2.0, "Batch")
    expect(JSON.parse(res.text)).toStrictEqual([answer(9, "one")]);
  });

  test("a request reusing an id still in flight in its session is refused; the first is answered", async () => {
    // GIVEN a session / WHEN one batch carries two requests with id 5
    const session = await openSession();
    const res = await session.post([
      call(5, "progress", { steps: 2, intervalMs: 10 }),
      call(5, "echo", { message: "x" }),
    ]);
    // THEN the first runs and the second is refused
    expect(JSON.parse(res.text)).toStrictEqual([
      answer(5, "done after 2 steps"),
      {
        jsonrpc: "2.0",
        id: 5,
        error: {
          code: -32600,
          message: "Invalid Request: request id 5 is already in flight in this session",
        },
      },
    ]);
    // AND the id may be used again once answered
    expect(JSON.parse((await session.post(call(5, "echo", { message: "reuse" }))).text)).toStrictEqual(
      answer(5, "reuse"),
    );
  });

  test("DELETE answers the session's calls still running with an error, and the session is gone", async () => {
    // GIVEN a long call running in a session, its stream open (the first progress came)
    const session = await openSession();
    const running = await startLongCall(session.headers, 6);
    // WHEN the client deletes the session
    const deleted = await fetch(`${server.base}/mcp`, { method: "DELETE", headers: session.headers });
    const text = await running.ended;
    // THEN the running call is answered with an error instead of hanging
    expect(deleted.status).toBe(200);
    expect(events(text).at(-1)).toStrictEqual({
      jsonrpc: "2.0",
      id: 6,
      error: { code: -32603, message: "the session was closed (deleted by the client)" },
    });
    // AND the session no longer exists
    const after = await session.post(call(7, "echo", { message: "late" }));
    expect(after.status).toBe(404);
  });

  test.each([
    ["a text body", "text/plain", "bye"],
    ["an empty JSON body", "application/json", ""],
    ["a JSON body", "application/json", "{}"],
  ])("DELETE ends the session whatever it carries (%s)", async (_, type, body) => {
    // GIVEN a session
    const session = await openSession();
    // WHEN the client deletes it with a body and a Content-Type (MCP gives DELETE no body)
    const deleted = await fetch(`${server.base}/mcp`, {
      method: "DELETE",
      headers: { ...session.headers, "content-type": type },
      body,
    });
    // THEN the session is gone
    const after = await session.post(call(8, "echo", { message: "late" }));
    expect([deleted.status, after.status]).toStrictEqual([200, 404]);
  });

  test("a cancelled call's POST ends without an answer, and its id is free again", async () => {
    // GIVEN a long call running in a session, its stream open (the first progress came)
    const session = await openSession();
    const running = await startLongCall(session.headers, 8);
    // WHEN the client cancels it
    const cancel = await session.post({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: 8, reason: "user" },
    });
    const text = await running.ended;
    // THEN the stream ended carrying progress only (a cancelled request gets no response)
    expect(cancel.status).toBe(202);
    expect(events(text).map((e) => e.method ?? `response ${String(e.id)}`)).toContain(
      "notifications/progress",
    );
    expect(events(text).every((e) => e.method === "notifications/progress")).toBe(true);
    // AND the id may be used again at once
    expect(JSON.parse((await session.post(call(8, "echo", { message: "again" }))).text)).toStrictEqual(
      answer(8, "again"),
    );
  });

  test("a session holds one standalone GET stream at a time", async () => {
    // GIVEN a session with its standalone stream open
    const session = await openSession();
    const stream = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(`${server.base}/mcp`, {
        headers: { accept: "text/event-stream", ...session.headers },
      });
      req.on("response", resolve).on("error", reject).end();
    });
    // WHEN a second one is asked for
    const second = await fetch(`${server.base}/mcp`, {
      headers: { accept: "text/event-stream", ...session.headers },
    });
    // THEN the first is a stream and the second is refused with 409
    expect([stream.statusCode, stream.headers["content-type"]]).toStrictEqual([200, "text/event-stream"]);
    expect([second.status, await second.json()]).toStrictEqual([
      409,
      {
        jsonrpc: "2.0",
        error: { code: -32000, message: "Conflict: only one standalone SSE stream is allowed per session" },
        id: null,
      },
    ]);
    // AND DELETE ends the open stream
    const ended = new Promise<void>((resolve) => stream.once("end", resolve).resume());
    await fetch(`${server.base}/mcp`, { method: "DELETE", headers: session.headers });
    await ended;
  });
});
