/**
 * Bad input to the mcp-server gets the right JSON-RPC or HTTP error, and the process keeps
 * serving. Real process, raw HTTP where the HTTP layer decides, the SDK client where MCP does.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { McpServerUnderTest } from "../../helpers/mcp-server-process";
import { openSse } from "../../helpers/router-app";
import {
  connect,
  initializeBody,
  rawPost,
  startMcpServer,
  TRANSPORTS,
  stopMcpServers,
} from "../../helpers/mcp-server-process";

jest.setTimeout(30_000);

let server: McpServerUnderTest;
let sessionId: string;
const clients: Client[] = [];
const PROTOCOL = { "mcp-protocol-version": "2025-06-18" };

const initialize = initializeBody(1);

/** The JSON-RPC message in a JSON or SSE body. */
function messageOf(text: string): unknown {
  const data = text.split("\n").find((l) => l.startsWith("data: "));
  return JSON.parse(data === undefined ? text : data.slice(6));
}

beforeAll(async () => {
  server = await startMcpServer({ MCP_MAX_BODY_BYTES: "4096", MCP_ALLOWED_ORIGINS: "http://localhost:3000" });
  const init = await rawPost(`${server.base}/mcp`, initialize);
  sessionId = init.headers.get("mcp-session-id")!;
  await rawPost(
    `${server.base}/mcp`,
    JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
    {
      "mcp-session-id": sessionId,
      ...PROTOCOL,
    },
  );
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await stopMcpServers(server);
});

const inSession = (body: string, extra: Record<string, string> = {}) =>
  rawPost(`${server.base}/mcp`, body, { "mcp-session-id": sessionId, ...PROTOCOL, ...extra });

const PARSE_ERROR =
  "Parse error: the body is not valid JSON (or it holds a __proto__ or constructor.prototype key, which is refused)";

describe("bad input over HTTP", () => {
  test.each<[string, () => Promise<{ status: number; text: string }>, number, unknown]>([
    [
      "malformed JSON",
      () => inSession("{not json"),
      400,
      {
        jsonrpc: "2.0",
        error: { code: -32700, message: PARSE_ERROR },
        id: null,
      },
    ],
    [
      "a JSON-RPC body sent as text/plain",
      () =>
        inSession(JSON.stringify({ jsonrpc: "2.0", id: 9, method: "ping" }), {
          "content-type": "text/plain",
        }),
      415,
      { jsonrpc: "2.0", error: { code: -32600, message: "Content-Type must be application/json" }, id: null },
    ],
    [
      "JSON with a __proto__ key",
      () =>
        inSession(
          '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"message":"x","__proto__":{"a":1}}}}',
        ),
      400,
      { jsonrpc: "2.0", error: { code: -32700, message: PARSE_ERROR }, id: null },
    ],
    [
      "an oversized body",
      () =>
        inSession(
          JSON.stringify({ jsonrpc: "2.0", id: 9, method: "ping", params: { pad: "x".repeat(5000) } }),
        ),
      413,
      { jsonrpc: "2.0", error: { code: -32600, message: "Request body exceeds 4096 bytes" }, id: null },
    ],
    [
      "a wrong Origin",
      () => rawPost(`${server.base}/mcp`, initialize, { origin: "http://evil.example" }),
      403,
      {
        jsonrpc: "2.0",
        error: { code: -32000, message: 'Forbidden: Origin "http://evil.example" is not allowed' },
        id: null,
      },
    ],
    [
      "a rebinding Host",
      () => rawPost(`${server.base}/mcp`, initialize, { host: "attacker.example.com" }),
      403,
      {
        jsonrpc: "2.0",
        error: { code: -32000, message: 'Forbidden: Host "attacker.example.com" is not allowed' },
        id: null,
      },
    ],
    [
      "a malformed Host",
      () => rawPost(`${server.base}/mcp`, initialize, { host: "[zz" }),
      403,
      {
        jsonrpc: "2.0",
        error: { code: -32000, message: 'Forbidden: Host "[zz" is malformed' },
        id: null,
      },
    ],
    [
      "JSON nested deeper than 128 levels",
      () =>
        inSession(
          `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"message":"x","d":${"[".repeat(200)}${"]".repeat(200)}}}}`,
        ),
      400,
      {
        jsonrpc: "2.0",
        error: { code: -32600, message: "Invalid Request: JSON nested deeper than 128 levels" },
        id: null,
      },
    ],
    [
      "an unknown session",
      () =>
        rawPost(`${server.base}/mcp`, JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }), {
          "mcp-session-id": "00000000-0000-0000-0000-000000000000",
        }),
      404,
      { jsonrpc: "2.0", error: { code: -32001, message: "Session not found" }, id: null },
    ],
    [
      "a missing session",
      () => rawPost(`${server.base}/mcp`, JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/list" })),
      400,
      {
        jsonrpc: "2.0",
        error: { code: -32000, message: "Bad Request: Mcp-Session-Id header is required" },
        id: null,
      },
    ],
    [
      "GET /mcp without a session",
      async () => {
        const res = await fetch(`${server.base}/mcp`, { headers: { accept: "text/event-stream" } });
        return { status: res.status, text: await res.text() };
      },
      405,
      {
        jsonrpc: "2.0",
        error: { code: -32000, message: "Method Not Allowed: open a session with POST first" },
        id: null,
      },
    ],
    [
      "an unknown legacy SSE session",
      () =>
        rawPost(
          `${server.base}/messages?sessionId=nope`,
          JSON.stringify({ jsonrpc: "2.0", id: 4, method: "ping" }),
        ),
      404,
      { jsonrpc: "2.0", error: { code: -32001, message: "Session not found" }, id: null },
    ],
    [
      "a legacy POST without a session",
      () => rawPost(`${server.base}/messages`, JSON.stringify({ jsonrpc: "2.0", id: 5, method: "ping" })),
      400,
      {
        jsonrpc: "2.0",
        error: { code: -32000, message: "Bad Request: one sessionId query parameter is required" },
        id: null,
      },
    ],
    [
      "a legacy POST naming two sessions",
      () =>
        rawPost(
          `${server.base}/messages?sessionId=a&sessionId=b`,
          JSON.stringify({ jsonrpc: "2.0", id: 5, method: "ping" }),
        ),
      400,
      {
        jsonrpc: "2.0",
        error: { code: -32000, message: "Bad Request: one sessionId query parameter is required" },
        id: null,
      },
    ],
    [
      "JSON that is not a JSON-RPC message",
      () => inSession(JSON.stringify({ hello: "world" })),
      400,
      {
        jsonrpc: "2.0",
        error: { code: -32600, message: "Invalid Request: not a JSON-RPC 2.0 message" },
        id: null,
      },
    ],
    [
      "tools/call whose arguments are not an object",
      () =>
        inSession(
          JSON.stringify({
            jsonrpc: "2.0",
            id: 7,
            method: "tools/call",
            params: { name: "echo", arguments: "x" },
          }),
        ),
      200,
      { jsonrpc: "2.0", id: 7, error: { code: -32602, message: "Invalid params for tools/call" } },
    ],
    [
      "tools/call without a tool name",
      () => inSession(JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/call", params: {} })),
      200,
      { jsonrpc: "2.0", id: 7, error: { code: -32602, message: "Invalid params for tools/call" } },
    ],
    [
      "initialize with invalid params",
      () =>
        rawPost(
          `${server.base}/mcp`,
          JSON.stringify({ jsonrpc: "2.0", id: 7, method: "initialize", params: { capabilities: {} } }),
        ),
      400,
      {
        jsonrpc: "2.0",
        error: {
          code: -32602,
          message: "Invalid params: initialize needs protocolVersion, capabilities and clientInfo",
        },
        id: null,
      },
    ],
    [
      "initialize inside a session",
      () => inSession(initialize),
      400,
      {
        jsonrpc: "2.0",
        error: {
          code: -32600,
          message: "Invalid Request: initialize opens a new session; send it without Mcp-Session-Id",
        },
        id: null,
      },
    ],
    [
      "an unsupported protocol version",
      () =>
        inSession(JSON.stringify({ jsonrpc: "2.0", id: 8, method: "ping" }), {
          "mcp-protocol-version": "1999-01-01",
        }),
      400,
      {
        jsonrpc: "2.0",
        error: {
          code: -32000,
          message: expect.stringContaining("Bad Request: Unsupported protocol version: 1999-01-01"),
        },
        id: null,
      },
    ],
    [
      "DELETE with an unsupported protocol version, which leaves the session open",
      async () => {
        const res = await fetch(`${server.base}/mcp`, {
          method: "DELETE",
          headers: { "mcp-session-id": sessionId, "mcp-protocol-version": "1999-01-01" },
        });
        return { status: res.status, text: await res.text() };
      },
      400,
      {
        jsonrpc: "2.0",
        error: {
          code: -32000,
          message: expect.stringContaining("Bad Request: Unsupported protocol version: 1999-01-01"),
        },
        id: null,
      },
    ],
    [
      "a kilobytes-long protocol version, shown back cut to 40 characters",
      () =>
        inSession(JSON.stringify({ jsonrpc: "2.0", id: 8, method: "ping" }), {
          "mcp-protocol-version": "9".repeat(3000),
        }),
      400,
      {
        jsonrpc: "2.0",
        error: {
          code: -32000,
          message: expect.stringMatching(
            /^Bad Request: Unsupported protocol version: 9{40} \(supported versions: /,
          ),
        },
        id: null,
      },
    ],
    [
      "an Accept header without text/event-stream",
      () =>
        inSession(JSON.stringify({ jsonrpc: "2.0", id: 10, method: "ping" }), { accept: "application/json" }),
      406,
      {
        jsonrpc: "2.0",
        error: {
          code: -32000,
          message: "Not Acceptable: the client must accept application/json and text/event-stream",
        },
        id: null,
      },
    ],
    [
      "an unknown method",
      () => inSession(JSON.stringify({ jsonrpc: "2.0", id: 6, method: "tools/frobnicate" })),
      200,
      { jsonrpc: "2.0", id: 6, error: { code: -32601, message: "Method not found" } },
    ],
  ])("%s", async (_name, send, status, body) => {
    // GIVEN a running server / WHEN the bad request arrives
    const res = await send();
    // THEN the exact status and error body come back
    expect([res.status, messageOf(res.text)]).toStrictEqual([status, body]);
    // AND the server keeps serving the session
    const ping = await inSession(JSON.stringify({ jsonrpc: "2.0", id: 100, method: "ping" }));
    expect([ping.status, messageOf(ping.text)]).toStrictEqual([200, { jsonrpc: "2.0", id: 100, result: {} }]);
  });
});

describe("legacy SSE messages", () => {
  test("the stream names its session in Mcp-Session-Id, as its endpoint does", async () => {
    const stream = await openSse(`${server.base}/sse`);
    try {
      const endpoint = new URL((await stream.next((e) => e.event === "endpoint")).data, server.base);
      expect([stream.status, stream.headers["mcp-session-id"]]).toStrictEqual([
        200,
        endpoint.searchParams.get("sessionId"),
      ]);
    } finally {
      stream.close();
    }
  });

  test("a batch or a non-JSON-RPC body gets a JSON-RPC 400, and the stream keeps serving", async () => {
    // GIVEN an open legacy SSE stream and its endpoint
    const stream = await openSse(`${server.base}/sse`);
    const endpoint = `${server.base}${(await stream.next((e) => e.event === "endpoint")).data}`;
    try {
      // WHEN a batch and a JSON value that is no message are posted to it
      const ping = { jsonrpc: "2.0", id: 1, method: "ping" };
      const batch = await rawPost(endpoint, JSON.stringify([ping, { ...ping, id: 2 }]));
      const notMessage = await rawPost(endpoint, JSON.stringify({ hello: "world" }));
      // THEN each is refused as /mcp refuses it
      expect([batch.status, messageOf(batch.text)]).toStrictEqual([
        400,
        {
          jsonrpc: "2.0",
          error: {
            code: -32600,
            message: "Invalid Request: the SSE transport takes one message per POST, not a batch",
          },
          id: null,
        },
      ]);
      expect([notMessage.status, messageOf(notMessage.text)]).toStrictEqual([
        400,
        {
          jsonrpc: "2.0",
          error: { code: -32600, message: "Invalid Request: not a JSON-RPC 2.0 message" },
          id: null,
        },
      ]);
      // AND a good message is still answered on the stream
      expect((await rawPost(endpoint, JSON.stringify({ ...ping, id: 3 }))).status).toBe(202);
      const answer = await stream.next((e) => e.data.includes('"id":3'));
      expect(JSON.parse(answer.data)).toStrictEqual({ jsonrpc: "2.0", id: 3, result: {} });
    } finally {
      stream.close();
    }
  });
});

describe("input nested deep enough to overflow a recursive walk", () => {
  let roomy: McpServerUnderTest;
  beforeAll(async () => {
    roomy = await startMcpServer();
  });
  afterAll(async () => {
    // This server only: the file's other server serves the tests after these.
    roomy.proc.child.kill("SIGTERM");
    await roomy.proc.exited;
  });

  test("a cancellation whose requestId nests 10,000 levels is refused on both transports; the server lives on", async () => {
    // GIVEN a server with the default body limit, a Streamable HTTP session and a legacy SSE stream
    const init = await rawPost(`${roomy.base}/mcp`, initialize);
    const headers = { "mcp-session-id": init.headers.get("mcp-session-id")!, ...PROTOCOL };
    const stream = await openSse(`${roomy.base}/sse`);
    const endpoint = `${roomy.base}${(await stream.next((e) => e.event === "endpoint")).data}`;
    try {
      // WHEN each gets a notifications/cancelled whose requestId is an array nested 10,000 deep
      // (about 20 KB: such an id once overflowed the stack of the code keying requests by id)
      const deep = `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":${"[".repeat(10_000)}${"]".repeat(10_000)}}}`;
      const answers = [await rawPost(`${roomy.base}/mcp`, deep, headers), await rawPost(endpoint, deep)];

      // THEN both are refused as Invalid Request, and the server still answers on both
      const refused = [
        400,
        {
          jsonrpc: "2.0",
          error: { code: -32600, message: "Invalid Request: JSON nested deeper than 128 levels" },
          id: null,
        },
      ];
      expect(answers.map((a) => [a.status, messageOf(a.text)])).toStrictEqual([refused, refused]);
      const ping = await rawPost(
        `${roomy.base}/mcp`,
        JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
        headers,
      );
      expect(messageOf(ping.text)).toStrictEqual({ jsonrpc: "2.0", id: 1, result: {} });
      expect(
        (await rawPost(endpoint, JSON.stringify({ jsonrpc: "2.0", id: 2, method: "ping" }))).status,
      ).toBe(202);
      expect(JSON.parse((await stream.next((e) => e.data.includes('"id":2'))).data)).toStrictEqual({
        jsonrpc: "2.0",
        id: 2,
        result: {},
      });
      expect(roomy.proc.child.exitCode).toBeNull();
    } finally {
      stream.close();
    }
  });
});

describe("oversized uploads", () => {
  test("an upload far over the limit is refused at once and its connection closed", async () => {
    // GIVEN a limit of 4096 bytes / WHEN 100 KB arrive (over 16 times the limit)
    const res = await inSession(
      JSON.stringify({ jsonrpc: "2.0", id: 11, method: "ping", params: { pad: "x".repeat(100_000) } }),
    );
    // THEN 413 comes without reading the upload, and the connection is not reused
    expect([res.status, res.headers.get("connection"), messageOf(res.text)]).toStrictEqual([
      413,
      "close",
      { jsonrpc: "2.0", error: { code: -32600, message: "Request body exceeds 4096 bytes" }, id: null },
    ]);
  });
});

describe.each(TRANSPORTS)("bad tool calls over %s", (transport) => {
  test("an unknown tool and invalid arguments are tool errors; the session keeps working", async () => {
    const client = await connect(server, transport);
    clients.push(client);
    const unknown = await client.callTool({ name: "no-such-tool", arguments: {} });
    const invalid = await client.callTool({ name: "echo", arguments: { message: 42 } });
    expect(unknown).toStrictEqual({
      content: [{ type: "text", text: "MCP error -32602: Tool no-such-tool not found" }],
      isError: true,
    });
    expect(invalid.isError).toBe(true);
    expect((invalid.content as { text: string }[])[0]!.text).toContain("Input validation error");
    expect(await client.callTool({ name: "echo", arguments: { message: "fine" } })).toStrictEqual({
      content: [{ type: "text", text: "fine" }],
    });
  });
});
