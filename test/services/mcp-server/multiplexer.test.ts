/**
 * The multiplexer's routing rules, with fake links standing in for children: ids and progress
 * tokens are rewritten per forwarded request and mapped back, cancellation reaches the right
 * link, unsolicited notifications go to every session, and a link going down fails its calls.
 */
import type { JSONRPCMessage, RequestId } from "@modelcontextprotocol/sdk/types.js";
import pino from "pino";
import type { Link } from "../../../services/mcp-server/src/bridge/link";
import type { ClientSession } from "../../../services/mcp-server/src/bridge/multiplexer";
import { Multiplexer } from "../../../services/mcp-server/src/bridge/multiplexer";
import { LinkPool } from "../../../services/mcp-server/src/bridge/pool";
import type { Slot } from "../../../services/mcp-server/src/bridge/pool";

const INIT = {
  protocolVersion: "2025-06-18",
  capabilities: {
    tools: {},
    logging: {},
    resources: { subscribe: true, listChanged: true },
    tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } },
  },
  serverInfo: { name: "fake", version: "1" },
};

/** A link that answers initialize and records everything else. */
function fakeLink(name: string): Link & { sent: JSONRPCMessage[] } {
  const link: Link & { sent: JSONRPCMessage[] } = {
    name,
    sent: [],
    send(message) {
      if ("method" in message && message.method === "initialize" && "id" in message) {
        queueMicrotask(() => link.onmessage?.({ jsonrpc: "2.0", id: message.id, result: INIT }));
        return;
      }
      if ("method" in message && message.method === "notifications/initialized") return;
      link.sent.push(message);
    },
    close: async () => undefined,
  };
  return link;
}

function session(id: string): ClientSession & {
  got: [JSONRPCMessage, RequestId | undefined][];
  cancels: RequestId[];
} {
  const got: [JSONRPCMessage, RequestId | undefined][] = [];
  const cancels: RequestId[] = [];
  return {
    id,
    got,
    cancels,
    send: async (message, related) => void got.push([message, related]),
    cancelled: (requestId) => void cancels.push(requestId),
  };
}

async function setup(size: number) {
  const links: (Link & { sent: JSONRPCMessage[] })[] = [];
  const slots: Slot[] = [];
  const pool: LinkPool = new LinkPool({
    size,
    logger: pino({ level: "silent" }),
    start: (i) => {
      const link = fakeLink(`fake[${i}]`);
      links.push(link);
      return link;
    },
    onSlotUp: (slot) => {
      slots.push(slot);
      slot.link.onmessage = (m) => mux.handleLink(slot, m);
    },
    onSlotDown: (slot, cause) => mux.handleLinkDown(slot, cause),
  });
  const mux = new Multiplexer(pool, pino({ level: "silent" }));
  await pool.start();
  return { pool, mux, links, slots };
}

/** A session's `logging/setLevel` request. */
const setLevel = (id: RequestId, level: string): JSONRPCMessage => ({
  jsonrpc: "2.0",
  id,
  method: "logging/setLevel",
  params: { level },
});

const call = (id: RequestId, message: string, progressToken?: string): JSONRPCMessage => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name: "echo", arguments: { message }, ...(progressToken ? { _meta: { progressToken } } : {}) },
});

describe("multiplexer", () => {
  test("two sessions using the same request id and progress token each get their own answer", async () => {
    // GIVEN one link and two sessions that both send id 1 with progress token "t"
    const { mux, links, slots, pool } = await setup(1);
    const [a, b] = [session("a"), session("b")];
    mux.attach(a);
    mux.attach(b);
    await mux.handleClient(a, call(1, "from a", "t"));
    await mux.handleClient(b, call(1, "from b", "t"));
    // THEN the link saw distinct ids and tokens
    expect(links[0]!.sent).toStrictEqual([
      {
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "echo", arguments: { message: "from a" }, _meta: { progressToken: "p1" } },
      },
      {
        jsonrpc: "2.0",
        id: 2,
        method: "tools/call",
        params: { name: "echo", arguments: { message: "from b" }, _meta: { progressToken: "p2" } },
      },
    ]);
    // WHEN the link reports progress for b and answers both out of order
    mux.handleLink(slots[0]!, {
      jsonrpc: "2.0",
      method: "notifications/progress",
      params: { progressToken: "p2", progress: 1 },
    });
    mux.handleLink(slots[0]!, {
      jsonrpc: "2.0",
      id: 2,
      result: { content: [{ type: "text", text: "from b" }] },
    });
    mux.handleLink(slots[0]!, {
      jsonrpc: "2.0",
      id: 1,
      result: { content: [{ type: "text", text: "from a" }] },
    });
    // THEN each session got its own progress and answer under its own id and token
    expect(a.got).toStrictEqual([
      [{ jsonrpc: "2.0", id: 1, result: { content: [{ type: "text", text: "from a" }] } }, 1],
    ]);
    expect(b.got).toStrictEqual([
      [{ jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: "t", progress: 1 } }, 1],
      [{ jsonrpc: "2.0", id: 1, result: { content: [{ type: "text", text: "from b" }] } }, 1],
    ]);
    expect(mux.inFlight).toBe(0);
    await pool.close();
  });

  test("a client's cancellation reaches the link under the forwarded id, and a late answer is dropped", async () => {
    const { mux, links, slots, pool } = await setup(1);
    const a = session("a");
    mux.attach(a);
    await mux.handleClient(a, call("req-7", "slow"));
    await mux.handleClient(a, {
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: "req-7", reason: "user" },
    });
    // A repeated cancellation changes nothing.
    await mux.handleClient(a, {
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: "req-7" },
    });
    mux.handleLink(slots[0]!, { jsonrpc: "2.0", id: 1, result: { content: [] } });
    expect(links[0]!.sent.at(-1)).toStrictEqual({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: 1, reason: "user" },
    });
    expect(a.got).toStrictEqual([]);
    // AND the session is told, once, so it can release what waits for the answer
    expect(a.cancels).toStrictEqual(["req-7"]);
    await pool.close();
  });

  test("a link's progress without params, or its word on another link's call, changes nothing", async () => {
    // GIVEN two links, each with a call of session a in flight (ids 1 and 2, tokens p1 and p2)
    const { mux, slots, pool } = await setup(2);
    const a = session("a");
    mux.attach(a);
    await mux.handleClient(a, call(10, "on the first", "t10"));
    await mux.handleClient(a, call(20, "on the second", "t20"));
    const [first, second] = [slots[0]!, slots[1]!];

    // WHEN the first link sends progress without params (the SDK's schema lets it through), and
    // progress, a cancellation and an answer for the call the second link holds
    mux.handleLink(first, { jsonrpc: "2.0", method: "notifications/progress" });
    mux.handleLink(first, {
      jsonrpc: "2.0",
      method: "notifications/progress",
      params: { progressToken: "p2", progress: 1 },
    });
    mux.handleLink(first, { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 2 } });
    mux.handleLink(first, { jsonrpc: "2.0", id: 2, result: { content: [] } });

    // THEN nothing reached the session and both calls still run; the second link still answers
    expect([a.got, mux.inFlight]).toStrictEqual([[], 2]);
    mux.handleLink(second, { jsonrpc: "2.0", id: 2, result: { content: [{ type: "text", text: "ok" }] } });
    expect(a.got).toStrictEqual([
      [{ jsonrpc: "2.0", id: 20, result: { content: [{ type: "text", text: "ok" }] } }, 20],
    ]);
    await pool.close();
  });

  test("a request reusing an id in flight in its session is refused; the first call goes on", async () => {
    // GIVEN a session with call 7 in flight on the link
    const { mux, links, slots, pool } = await setup(1);
    const a = session("a");
    mux.attach(a);
    await mux.handleClient(a, call(7, "first"));

    // WHEN it sends another request with id 7 (the legacy SSE transport passes it on)
    await mux.handleClient(a, call(7, "second"));

    // THEN the second is refused, only the first reached the link, and its answer still comes
    mux.handleLink(slots[0]!, { jsonrpc: "2.0", id: 1, result: { content: [] } });
    expect(links[0]!.sent.length).toBe(1);
    expect(a.got).toStrictEqual([
      [
        {
          jsonrpc: "2.0",
          id: 7,
          error: {
            code: -32600,
            message: "Invalid Request: request id 7 is already in flight in this session",
          },
        },
        7,
      ],
      [{ jsonrpc: "2.0", id: 7, result: { content: [] } }, 7],
    ]);
    await pool.close();
  });

  test("a cancellation naming no request by a string or number changes nothing", async () => {
    // GIVEN a call in flight
    const { mux, links, slots, pool } = await setup(1);
    const a = session("a");
    mux.attach(a);
    await mux.handleClient(a, call(7, "slow"));

    // WHEN cancellations arrive whose requestId is an object, an array nested 10,000 deep (which
    // overflows any recursive walk, String() included) and null
    const deep = JSON.parse("[".repeat(10_000) + "]".repeat(10_000)) as unknown;
    for (const requestId of [{ id: 7 }, deep, null]) {
      await mux.handleClient(a, { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId } });
    }

    // THEN the call runs on and is answered
    mux.handleLink(slots[0]!, { jsonrpc: "2.0", id: 1, result: { content: [] } });
    expect(
      links[0]!.sent.filter((m) => "method" in m && m.method === "notifications/cancelled"),
    ).toStrictEqual([]);
    expect(a.got).toStrictEqual([[{ jsonrpc: "2.0", id: 7, result: { content: [] } }, 7]]);
    await pool.close();
  });

  test("a child's message nested too deep to write out again: its call gets an error, the rest is dropped", async () => {
    // GIVEN a call in flight
    const { mux, slots, pool } = await setup(1);
    const a = session("a");
    mux.attach(a);
    await mux.handleClient(a, call(8, "deep"));
    const deep = JSON.parse("[".repeat(10_000) + "]".repeat(10_000)) as unknown;

    // WHEN the child sends a notification and then the call's answer, each nesting 10,000 levels
    mux.handleLink(slots[0]!, {
      jsonrpc: "2.0",
      method: "notifications/message",
      params: { level: "info", data: deep },
    });
    mux.handleLink(slots[0]!, {
      jsonrpc: "2.0",
      id: 1,
      result: { content: [], structuredContent: { deep } },
    });

    // THEN the session gets only an error for its call
    expect(a.got).toStrictEqual([
      [
        {
          jsonrpc: "2.0",
          id: 8,
          error: {
            code: -32603,
            message: "the tool server's answer is nested deeper than 128 levels and cannot be sent",
          },
        },
        8,
      ],
    ]);
    await pool.close();
  });

  test("logging/setLevel is answered for the session itself, and only with a valid level", async () => {
    const { mux, links, pool } = await setup(1);
    const a = session("a");
    mux.attach(a);
    await mux.handleClient(a, setLevel(1, "info"));
    await mux.handleClient(a, setLevel(2, "loud"));
    expect(a.got).toStrictEqual([
      [{ jsonrpc: "2.0", id: 1, result: {} }, 1],
      [{ jsonrpc: "2.0", id: 2, error: { code: -32602, message: "Invalid params for logging/setLevel" } }, 2],
    ]);
    // AND nothing of it reached the shared child
    expect(links[0]!.sent).toStrictEqual([]);
    await pool.close();
  });

  test("list_changed from a link goes to every session", async () => {
    const { mux, slots, pool } = await setup(1);
    const sessions = [session("a"), session("b"), session("c")];
    for (const s of sessions) mux.attach(s);
    const changed = { jsonrpc: "2.0" as const, method: "notifications/tools/list_changed" };
    mux.handleLink(slots[0]!, changed);
    expect(sessions.map((s) => s.got)).toStrictEqual([
      [[changed, undefined]],
      [[changed, undefined]],
      [[changed, undefined]],
    ]);
    await pool.close();
  });

  test("a link going down fails only its own calls; work goes to the least busy link", async () => {
    // GIVEN two links and three calls: two land on one link, one on the other
    const { mux, links, slots, pool } = await setup(2);
    const a = session("a");
    mux.attach(a);
    await mux.handleClient(a, call(1, "one"));
    await mux.handleClient(a, call(2, "two"));
    await mux.handleClient(a, call(3, "three"));
    expect(links.map((l) => l.sent.length)).toStrictEqual([2, 1]);
    // WHEN the first link goes down
    links[0]!.onexit?.("was killed by SIGKILL");
    // THEN its two calls fail with the cause, the other stays in flight
    expect(a.got.map(([m]) => m)).toStrictEqual(
      [1, 3].map((id) => ({
        jsonrpc: "2.0",
        id,
        error: {
          code: -32603,
          message:
            "the tool server process was killed by SIGKILL while handling this request; it is being restarted",
        },
      })),
    );
    expect([mux.inFlight, slots[1]!.inFlight]).toStrictEqual([1, 1]);
    await pool.close();
  });
  test("a server-to-client request is answered for the bridge, and a link that cannot take the answer throws nothing", async () => {
    // GIVEN one link
    const { mux, links, slots, pool } = await setup(1);
    // WHEN it sends a ping and a sampling request / THEN the bridge answers both itself
    mux.handleLink(slots[0]!, { jsonrpc: "2.0", id: 7, method: "ping" });
    mux.handleLink(slots[0]!, { jsonrpc: "2.0", id: 8, method: "sampling/createMessage", params: {} });
    expect(links[0]!.sent).toStrictEqual([
      { jsonrpc: "2.0", id: 7, result: {} },
      {
        jsonrpc: "2.0",
        id: 8,
        error: { code: -32601, message: "sampling/createMessage is not supported by the bridge" },
      },
    ]);
    // WHEN the link can no longer be written to (its child stopped reading) and asks again
    links[0]!.send = () => {
      throw new Error("fake[0] is not running");
    };
    // THEN handling its request does not throw (it ran inside the child's stdout listener,
    // where a throw took the whole service down)
    expect(() => mux.handleLink(slots[0]!, { jsonrpc: "2.0", id: 9, method: "ping" })).not.toThrow();
    await pool.close();
  });
  test("the calls of one batch spread over the links", async () => {
    // GIVEN four links
    const { mux, links, pool } = await setup(4);
    const a = session("a");
    mux.attach(a);
    // WHEN eight calls arrive together, as a batch's do
    await Promise.all(Array.from({ length: 8 }, (_, i) => mux.handleClient(a, call(i + 1, `m${i + 1}`))));
    // THEN each link got two of them
    expect(links.map((link) => link.sent.length)).toStrictEqual([2, 2, 2, 2]);
    await pool.close();
  });

  test("a call cancelled while it waits for a link is released at once and never sent", async () => {
    // GIVEN a pool whose only link has not come up yet (it answers initialize when told)
    const link = fakeLink("gated[0]");
    const send = link.send.bind(link);
    let initialize: JSONRPCMessage | undefined;
    link.send = (message) => {
      if ("method" in message && message.method === "initialize") initialize = message;
      else send(message);
    };
    const pool: LinkPool = new LinkPool({
      size: 1,
      logger: pino({ level: "silent" }),
      start: () => link,
      onSlotUp: (slot) => (slot.link.onmessage = (m) => mux.handleLink(slot, m)),
      onSlotDown: (slot, cause) => mux.handleLinkDown(slot, cause),
    });
    const mux = new Multiplexer(pool, pino({ level: "silent" }));
    const started = pool.start();
    const a = session("a");
    mux.attach(a);
    const waiting = mux.handleClient(a, call(1, "never"));
    expect(pool.queueDepth).toBe(1);

    // WHEN the client cancels it, and then the link comes up
    await mux.handleClient(a, {
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: 1, reason: "user" },
    });
    const releasedBeforeLink = [...a.cancels];
    send(initialize!);
    await started;
    await waiting;

    // THEN the client was released before any link was up, and the call never reached the link
    expect(releasedBeforeLink).toStrictEqual([1]);
    expect([link.sent, mux.inFlight, pool.liveSlots()[0]?.inFlight]).toStrictEqual([[], 0, 0]);
    await pool.close();
  });
});

describe("what one child shared by every session cannot serve per session", () => {
  it("announces the child's capabilities without tasks and resource subscriptions", async () => {
    // GIVEN a child that declares tasks and resource subscriptions
    const { mux, pool } = await setup(1);
    const a = session("a");
    mux.attach(a);

    // WHEN a session initializes
    await mux.handleClient(a, {
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "a", version: "1" } },
    });

    // THEN it is told of everything else the child declared
    expect(
      (a.got[0]?.[0] as unknown as { result: { capabilities: unknown } }).result.capabilities,
    ).toStrictEqual({
      tools: {},
      logging: {},
      resources: { listChanged: true },
    });
    await pool.close();
  });

  it("refuses task and subscription requests without reaching the child, and drops their notifications", async () => {
    // GIVEN two sessions on one child
    const { mux, pool, links, slots } = await setup(1);
    const [a, b] = [session("a"), session("b")];
    mux.attach(a);
    mux.attach(b);

    // WHEN one lists tasks, subscribes to a resource and asks for a task-augmented call, and the
    // child sends a resource update and a task status
    await mux.handleClient(a, { jsonrpc: "2.0", id: 1, method: "tasks/list", params: {} });
    await mux.handleClient(a, {
      jsonrpc: "2.0",
      id: 2,
      method: "resources/subscribe",
      params: { uri: "x:/1" },
    });
    await mux.handleClient(a, {
      jsonrpc: "2.0",
      id: 3,
      method: "tools/call",
      params: { name: "echo", arguments: {}, task: { ttl: 60_000 } },
    });
    mux.handleLink(slots[0]!, {
      jsonrpc: "2.0",
      method: "notifications/resources/updated",
      params: { uri: "x:/1" },
    });
    mux.handleLink(slots[0]!, {
      jsonrpc: "2.0",
      method: "notifications/tasks/status",
      params: { taskId: "t1", status: "working" },
    });

    // THEN each got a clear error, nothing reached the child, and no session got the notifications
    expect(a.got.map(([m]) => (m as { error?: { code: number } }).error?.code)).toStrictEqual([
      -32601, -32601, -32602,
    ]);
    expect([links[0]?.sent, b.got]).toStrictEqual([[], []]);
    await pool.close();
  });

  it("sends each session the child's log messages at or above the level it set", async () => {
    // GIVEN three sessions: one at error, one at debug, one that set no level
    const { mux, pool, slots } = await setup(1);
    const [errors, everything, unset] = [session("e"), session("d"), session("u")];
    for (const s of [errors, everything, unset]) mux.attach(s);
    await mux.handleClient(errors, setLevel(1, "error"));
    await mux.handleClient(everything, setLevel(1, "debug"));

    // WHEN the child logs at info, then at critical
    for (const level of ["info", "critical"]) {
      mux.handleLink(slots[0]!, {
        jsonrpc: "2.0",
        method: "notifications/message",
        params: { level, data: level },
      });
    }

    // THEN the error session got only the critical one; the others got both
    const logged = (s: ReturnType<typeof session>) =>
      s.got
        .map(([m]) => m)
        .filter((m) => "method" in m && m.method === "notifications/message")
        .map((m) => (m as unknown as { params: { level: string } }).params.level);
    expect([logged(errors), logged(everything), logged(unset)]).toStrictEqual([
      ["critical"],
      ["info", "critical"],
      ["info", "critical"],
    ]);
    await pool.close();
  });
});
