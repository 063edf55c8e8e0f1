/**
 * The shared Streamable HTTP framing: how `PostResponse` answers a POST (JSON, or SSE once a
 * notification or keep-alive comes first), and the message classifiers. A real HTTP server on
 * 127.0.0.1 so the bytes are what a client reads.
 */
import { createServer, request } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import fc from "fast-check";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { JSONRPCMessageSchema } from "@modelcontextprotocol/sdk/types.js";
import type { PostResponseOptions } from "@mcp-platform/shared";
import {
  isError,
  isInitialize,
  isNotification,
  isRequest,
  isResponse,
  isResult,
  checkBacklog,
  messageSchemaFor,
  MAX_NESTING,
  nestedDeeperThan,
  parseMessages,
  PostResponse,
} from "@mcp-platform/shared";

let server: Server;
let port: number;
let nextHandler: ((res: ServerResponse) => void) | undefined;

beforeAll(async () => {
  server = createServer((_req, res) => nextHandler?.(res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

interface Answer {
  readonly status: number;
  readonly headers: IncomingMessage["headers"];
  readonly text: string;
}

/**
 * Runs one POST whose answer `script` writes through a `PostResponse`; `script` gets a `headers`
 * promise that resolves once the response headers reached the client.
 */
function exchange(
  options: PostResponseOptions,
  script: (response: PostResponse, headersSeen: Promise<void>) => Promise<void> | void,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let seen!: () => void;
    const headersSeen = new Promise<void>((r) => (seen = r));
    nextHandler = (res) =>
      void Promise.resolve(script(new PostResponse(res, options), headersSeen)).catch(reject);
    const req = fetchRaw((res) => {
      seen();
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on("error", reject);
  });
}

function fetchRaw(onResponse: (res: IncomingMessage) => void) {
  const req = request({ host: "127.0.0.1", port, method: "POST", path: "/mcp", agent: false }, onResponse);
  req.end("{}");
  return req;
}

const result = (id: number, text: string): JSONRPCMessage => ({
  jsonrpc: "2.0",
  id,
  result: { content: [{ type: "text", text }] },
});
const progress = (n: number): JSONRPCMessage => ({
  jsonrpc: "2.0",
  method: "notifications/progress",
  params: { progressToken: "t", progress: n },
});
const sse = (message: JSONRPCMessage) => `event: message\ndata: ${JSON.stringify(message)}\n\n`;

const AUTO = { mode: "auto", expected: 1, batch: false, sessionId: "s-1", keepAliveMs: 60_000 } as const;

describe("PostResponse", () => {
  test("auto: an answer that comes first is one JSON body with length and session id", async () => {
    // GIVEN an auto response / WHEN the answer comes before anything else
    const answer = await exchange(AUTO, (response) => response.respond(0, result(1, "hi")));
    // THEN the client reads one JSON body
    expect([answer.status, answer.headers["content-type"], answer.headers["mcp-session-id"]]).toStrictEqual([
      200,
      "application/json",
      "s-1",
    ]);
    expect(answer.headers["content-length"]).toBe(String(Buffer.byteLength(answer.text)));
    expect(JSON.parse(answer.text)).toStrictEqual(result(1, "hi"));
  });

  test("auto: a notification first turns the answer into an SSE stream that ends with the result", async () => {
    // GIVEN an auto response / WHEN progress comes, reaches the client, then the answer
    const answer = await exchange(AUTO, async (response, headersSeen) => {
      response.notify(progress(1));
      await headersSeen;
      response.notify(progress(2));
      response.respond(0, result(1, "done"));
    });
    // THEN the client reads the events in order on a stream
    expect([answer.status, answer.headers["content-type"], answer.headers["mcp-session-id"]]).toStrictEqual([
      200,
      "text/event-stream",
      "s-1",
    ]);
    expect(answer.text).toBe(sse(progress(1)) + sse(progress(2)) + sse(result(1, "done")));
  });

  test("auto: a call silent past the keep-alive interval gets a stream with keep-alive comments", async () => {
    // GIVEN an auto response with a short keep-alive / WHEN the answer waits until the stream started
    const answer = await exchange({ ...AUTO, keepAliveMs: 5 }, async (response, headersSeen) => {
      await headersSeen;
      response.respond(0, result(1, "late"));
    });
    // THEN the stream starts with a keep-alive comment and ends with the answer
    expect(answer.headers["content-type"]).toBe("text/event-stream");
    expect(answer.text.startsWith(": keepalive\n\n")).toBe(true);
    expect(answer.text.endsWith(sse(result(1, "late")))).toBe(true);
  });

  test("a batch is answered in request order; answers collected before a stream starts lead it", async () => {
    // GIVEN a batch of three in auto mode
    const options = { ...AUTO, expected: 3, batch: true };
    // WHEN all three are answered out of order
    const json = await exchange(options, (response) => {
      response.respond(2, result(3, "c"));
      response.respond(0, result(1, "a"));
      response.respond(1, result(2, "b"));
    });
    // AND, in another POST, one answer comes, then a notification, then the rest
    const stream = await exchange(options, (response) => {
      response.respond(1, result(2, "b"));
      response.notify(progress(1));
      response.respond(0, result(1, "a"));
      response.respond(2, undefined);
    });
    // THEN the JSON array is in request order, and the stream replays what it had first
    expect(JSON.parse(json.text)).toStrictEqual([result(1, "a"), result(2, "b"), result(3, "c")]);
    expect(stream.text).toBe(sse(result(2, "b")) + sse(progress(1)) + sse(result(1, "a")));
  });

  test("a batch's JSON answer is an array even when it holds one response; a lone request's is not", async () => {
    // WHEN a batch holding one request, and a request alone, are answered
    const batch = await exchange({ ...AUTO, batch: true }, (response) => response.respond(0, result(1, "a")));
    const alone = await exchange(AUTO, (response) => response.respond(0, result(2, "b")));
    // THEN the batch gets an array of one (JSON-RPC 2.0, "Batch"), the lone request its response
    expect([JSON.parse(batch.text), JSON.parse(alone.text)]).toStrictEqual([
      [result(1, "a")],
      result(2, "b"),
    ]);
  });

  test("json: notifications are dropped; a POST whose requests were all cancelled gets 202", async () => {
    // GIVEN json-mode responses
    const options = { ...AUTO, mode: "json" } as const;
    // WHEN one gets a notification then its answer, and another only a cancellation
    const answered = await exchange(options, (response) => {
      response.notify(progress(1));
      response.respond(0, result(1, "x"));
    });
    const cancelled = await exchange(options, (response) => response.respond(0, undefined));
    // THEN the first is the JSON answer alone and the second is an empty 202
    expect([answered.headers["content-type"], JSON.parse(answered.text)]).toStrictEqual([
      "application/json",
      result(1, "x"),
    ]);
    expect([cancelled.status, cancelled.text]).toStrictEqual([202, ""]);
  });

  test("closeConnection asks the client to close the connection after the answer", async () => {
    // GIVEN a response of a draining server / WHEN it is answered
    const answer = await exchange({ ...AUTO, closeConnection: true }, (response) =>
      response.respond(0, result(1, "bye")),
    );
    // THEN the answer says Connection: close
    expect(answer.headers.connection).toBe("close");
  });
});

describe("checkBacklog", () => {
  /** A stream on `res` to a client that reads (or not); resolves with both ends once open. */
  function stream(reading: boolean): Promise<{ res: ServerResponse; client: IncomingMessage }> {
    return new Promise((resolve) => {
      let res!: ServerResponse;
      nextHandler = (r) => {
        res = r;
        r.writeHead(200, { "content-type": "text/event-stream" });
        r.flushHeaders();
      };
      fetchRaw((client) => {
        if (reading) client.resume();
        else client.pause();
        resolve({ res, client });
      });
    });
  }
  const chunk = ": " + "x".repeat(1024 * 1024 - 3) + "\n";

  it("ends a stream whose client stopped reading once its backlog passes the cap", async () => {
    // GIVEN a stream whose client reads nothing, with a 4 MiB cap
    const { res, client } = await stream(false);
    const limits = { stalledBytes: 1024 * 1024, stalledMs: 600_000, maxBytes: 4 * 1024 * 1024 };

    // WHEN 1 MiB is written at a time, the backlog checked after each write
    let written = 0;
    while (!res.destroyed && written < 64) {
      res.write(chunk);
      written++;
      checkBacklog(res, limits);
    }

    // THEN the stream was ended once the unsent bytes passed 4 MiB, long before 64 MiB
    expect(res.destroyed).toBe(true);
    expect(written).toBeLessThan(16);
    client.destroy();
  });

  it("ends a stream whose client takes nothing for the stall time, and keeps one whose client reads", async () => {
    // GIVEN two streams, one whose client stopped reading and one whose client reads (the stall
    // time is seconds: a busy machine that holds this process up for about one stall time, but
    // less than the 1.5 that counts as late, would take the reader for stalled too)
    const limits = { stalledBytes: 64 * 1024, stalledMs: 3000, maxBytes: 256 * 1024 * 1024 };
    const stalled = await stream(false);
    const reading = await stream(true);

    // WHEN each gets 32 MiB at once (more than the kernel's socket buffers take, and more than
    // the reader takes in one stall time), its backlog checked after each MiB
    for (const { res } of [stalled, reading]) {
      for (let i = 0; i < 32; i++) {
        res.write(chunk);
        checkBacklog(res, limits);
      }
    }

    // THEN the stalled one is ended after the stall time; the reading one drains it all and stays
    await new Promise((resolve) => stalled.res.once("close", resolve));
    await new Promise((resolve) =>
      reading.res.writableLength === 0 ? resolve(undefined) : reading.res.once("drain", resolve),
    );
    expect([stalled.res.destroyed, reading.res.destroyed]).toStrictEqual([true, false]);
    reading.res.end();
    stalled.client.destroy();
  }, 20_000);

  it("keeps a reading client's stream when the process itself was held up past the stall time", async () => {
    // GIVEN a stream whose client reads, with a backlog over the stall threshold
    const limits = { stalledBytes: 64 * 1024, stalledMs: 200, maxBytes: 256 * 1024 * 1024 };
    const reading = await stream(true);
    for (let i = 0; i < 8; i++) {
      reading.res.write(chunk);
      checkBacklog(reading.res, limits);
    }

    // WHEN the process is held up (a busy machine) for longer than the stall time, so the stall
    // timer is due before any of the client's reading is seen
    const until = Date.now() + 2 * limits.stalledMs;
    while (Date.now() < until) {
      // busy: neither timers nor I/O run
    }

    // THEN once the I/O has been seen the stream drains (rather than closes) and stays open
    await new Promise((resolve) => {
      if (reading.res.writableLength === 0) return resolve(undefined);
      reading.res.once("drain", resolve);
      reading.res.once("close", resolve);
    });
    expect([reading.res.destroyed, reading.res.writableLength]).toStrictEqual([false, 0]);
    reading.res.end();
  });
});

describe("a JSON answer to a client that stops reading", () => {
  it("is ended after the stall time rather than held for as long as the connection stays", async () => {
    // GIVEN a POST whose client reads nothing, answered with 4 MiB of JSON (a stall rule of
    // 64 KiB unsent and 300 ms without progress)
    const backlog = { stalledBytes: 64 * 1024, stalledMs: 300, maxBytes: 1024 };
    let answered!: ServerResponse;
    const closed = new Promise<void>((resolve) => {
      nextHandler = (res) => {
        answered = res;
        res.once("close", () => resolve());
        const response = new PostResponse(res, {
          mode: "json",
          expected: 1,
          batch: false,
          keepAliveMs: 60_000,
          backlog,
        });
        response.respond(0, result(1, "x".repeat(4 * 1024 * 1024)));
      };
    });
    const req = fetchRaw((client) => client.pause());

    // WHEN the stall time passes / THEN the server ended it (freeing the answer); a cap meant for
    // streams (here 1 KiB) did not end it at once
    await closed;
    expect([answered.destroyed, answered.writableFinished]).toStrictEqual([true, false]);
    req.destroy();
  });
});

describe("message classifiers", () => {
  test.each<[string, JSONRPCMessage, boolean[]]>([
    // [isRequest, isNotification, isResult, isError, isResponse, isInitialize]
    [
      "initialize",
      { jsonrpc: "2.0", id: 0, method: "initialize", params: {} } as JSONRPCMessage,
      [true, false, false, false, false, true],
    ],
    [
      "a request",
      { jsonrpc: "2.0", id: "a", method: "tools/list" },
      [true, false, false, false, false, false],
    ],
    ["a notification", progress(1), [false, true, false, false, false, false]],
    ["a result", result(1, "x"), [false, false, true, false, true, false]],
    [
      "an error",
      { jsonrpc: "2.0", id: 1, error: { code: -32601, message: "no" } },
      [false, false, false, true, true, false],
    ],
  ])("%s", (_name, message, expected) => {
    // GIVEN a validated message / WHEN classified / THEN exactly its kinds hold
    expect(
      [isRequest, isNotification, isResult, isError, isResponse, isInitialize].map((is) => is(message)),
    ).toStrictEqual(expected);
  });
});

describe("messageSchemaFor", () => {
  test("accepts and refuses exactly what JSONRPCMessageSchema does, with the same parsed message", () => {
    // GIVEN any value built of JSON-RPC's members, well-formed or not
    const member = fc.oneof(
      fc.constant("2.0"),
      fc.constant("1.0"),
      fc.integer(),
      fc.string({ maxLength: 3 }),
      fc.constant(null),
      fc.dictionary(
        fc.constantFrom("code", "message", "data", "_meta", "x"),
        fc.oneof(fc.integer(), fc.string()),
      ),
      fc.array(fc.integer(), { maxLength: 2 }),
    );
    const candidate = fc.oneof(
      fc.dictionary(fc.constantFrom("jsonrpc", "id", "method", "params", "result", "error", "extra"), member),
      member,
    );
    fc.assert(
      fc.property(candidate, (value) => {
        // WHEN parsed with the schema chosen for it and with the whole union
        const chosen = messageSchemaFor(value).safeParse(value);
        const union = JSONRPCMessageSchema.safeParse(value);
        // THEN both agree
        expect([chosen.success, chosen.data]).toStrictEqual([union.success, union.data]);
      }),
      { numRuns: 2_000 },
    );
  });

  test("parses each kind of message with that kind's schema", () => {
    // GIVEN one message of each kind / WHEN parsed with the chosen schema / THEN it is valid
    const messages: unknown[] = [
      { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "echo" } },
      progress(1),
      result(1, "x"),
      { jsonrpc: "2.0", id: 1, error: { code: -32601, message: "no" } },
    ];
    expect(messages.map((m) => messageSchemaFor(m).safeParse(m).success)).toStrictEqual([
      true,
      true,
      true,
      true,
    ]);
  });
});

describe("nesting", () => {
  /** A tools/call whose arguments hold `levels` nested arrays (the message itself adds three). */
  const callNesting = (levels: number) =>
    JSON.parse(
      `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"d":${"[".repeat(levels)}${"]".repeat(levels)}}}}`,
    ) as unknown;
  const TOO_DEEP = { invalid: `Invalid Request: JSON nested deeper than ${MAX_NESTING} levels` };

  it("counts arrays and objects, not what they hold, and walks any depth without recursion", () => {
    expect([
      nestedDeeperThan("text", 0),
      nestedDeeperThan({}, 0),
      nestedDeeperThan({ a: 1, b: "x" }, 1),
      nestedDeeperThan({ a: [1, { b: null }] }, 2),
      nestedDeeperThan({ a: [1, { b: null }] }, 3),
      nestedDeeperThan(JSON.parse("[".repeat(100_000) + "]".repeat(100_000)), 100_000),
      nestedDeeperThan(JSON.parse("[".repeat(100_000) + "]".repeat(100_000)), 99_999),
    ]).toStrictEqual([false, true, false, true, false, false, true]);
  });

  it(`takes a message ${MAX_NESTING} levels deep and refuses one level more, in a batch too`, () => {
    const deepest = callNesting(MAX_NESTING - 3);
    const tooDeep = callNesting(MAX_NESTING - 2);
    expect([
      "messages" in parseMessages(deepest),
      parseMessages(tooDeep),
      // A batch is one more level.
      parseMessages([deepest]),
    ]).toStrictEqual([true, TOO_DEEP, TOO_DEEP]);
  });
});
