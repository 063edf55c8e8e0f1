/**
 * The link pool's restart policy, driven with fake timers: a child that dies soon after every
 * start backs off exponentially up to the cap; readiness (links up) follows.
 */
import { Writable } from "node:stream";
import pino from "pino";
import type { Link } from "../../../services/mcp-server/src/bridge/link";
import { LinkPool } from "../../../services/mcp-server/src/bridge/pool";
import type { Slot } from "../../../services/mcp-server/src/bridge/pool";

const INIT = { protocolVersion: "2025-06-18", capabilities: {}, serverInfo: { name: "fake", version: "1" } };

function answeringLink(name: string): Link {
  const link: Link = {
    name,
    send(message) {
      if ("method" in message && message.method === "initialize" && "id" in message) {
        queueMicrotask(() => link.onmessage?.({ jsonrpc: "2.0", id: message.id, result: INIT }));
      }
    },
    close: async () => undefined,
  };
  return link;
}

// Timers are faked; microtasks stay real, as the links answer through them.
beforeEach(() => jest.useFakeTimers({ doNotFake: ["queueMicrotask", "nextTick"] }));
afterEach(() => jest.useRealTimers());

test("a child that dies right after each start is restarted with doubling delays up to the cap", async () => {
  // GIVEN a one-slot pool whose link dies as soon as it is up, with logs captured
  const logs: { msg: string; delayMs?: number }[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      logs.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const ups: Slot[] = [];
  const pool = new LinkPool({
    size: 1,
    logger: pino({ level: "info" }, stream),
    start: (_i, generation) => answeringLink(`fake#${generation}`),
    initialBackoffMs: 100,
    maxBackoffMs: 1000,
    onSlotUp: (slot) => {
      ups.push(slot);
      queueMicrotask(() => slot.link.onexit?.("exited with code 1"));
    },
  });
  // WHEN it starts and the link keeps dying, for six restarts
  await pool.start();
  for (let i = 0; i < 6; i++) await jest.advanceTimersByTimeAsync(1000);
  // (read before close, which empties every slot itself)
  const upAtTheEnd = pool.upCount;
  await pool.close();
  // THEN the restart delays doubled from 100 ms and stopped at 1 s, and the dead link was not
  // left counted as up
  const delays = logs.filter((l) => l.msg === "restarting bridge link").map((l) => l.delayMs);
  expect(delays.slice(0, 6)).toStrictEqual([100, 200, 400, 800, 1000, 1000]);
  expect(ups.length).toBeGreaterThanOrEqual(6);
  expect(upAtTheEnd).toBe(0);
});

test("requests wait in the bounded queue while no link is up, then go to the first one up", async () => {
  // GIVEN a pool whose first start fails, with a queue of one
  let starts = 0;
  const pool = new LinkPool({
    size: 1,
    logger: pino({ level: "silent" }),
    initialBackoffMs: 100,
    queueLimit: 1,
    start: (_i, generation) => {
      starts++;
      if (generation === 1) throw new Error("spawn failed");
      return answeringLink(`fake#${generation}`);
    },
  });
  await pool.start();
  // WHEN two requests arrive before the restart
  const first = pool.acquire();
  const second = pool.acquire();
  // THEN the second is refused at once, and the first gets the restarted link
  await expect(second).rejects.toThrow("the tool server is restarting and its queue is full");
  expect(pool.queueDepth).toBe(1);
  await jest.advanceTimersByTimeAsync(100);
  expect((await first).link.name).toBe("fake#2");
  expect([starts, pool.queueDepth]).toStrictEqual([2, 0]);
  await pool.close();
});

test("with a limit per link, a request waits for its turn and gets the link once a request ends", async () => {
  // GIVEN one link that takes one request at a time, busy with one
  const pool = new LinkPool({
    size: 1,
    logger: pino({ level: "silent" }),
    perLinkLimit: 1,
    queueLimit: 1,
    start: (_i, generation) => answeringLink(`fake#${generation}`),
  });
  await pool.start();
  const busy = await pool.acquire();

  // WHEN two more requests come / THEN one waits in the queue, the other is refused as busy
  const waiting = pool.acquire();
  await expect(pool.acquire()).rejects.toThrow("the tool server is busy and its queue is full");
  expect([pool.queueDepth, busy.inFlight]).toStrictEqual([1, 1]);

  // WHEN the busy request ends / THEN the waiting one has the link
  pool.release(busy);
  expect([(await waiting).link.name, busy.inFlight, pool.queueDepth]).toStrictEqual(["fake#1", 1, 0]);
  await pool.close();
});

test("what a child sends right after its initialize answer reaches the handler installed when it is up", async () => {
  // GIVEN a child that announces a tool list change together with its initialize answer
  const link: Link = {
    name: "fake#1",
    send(message) {
      if ("method" in message && message.method === "initialize" && "id" in message) {
        queueMicrotask(() => {
          link.onmessage?.({ jsonrpc: "2.0", id: message.id, result: INIT });
          link.onmessage?.({ jsonrpc: "2.0", method: "notifications/tools/list_changed" });
        });
      }
    },
    close: async () => undefined,
  };
  const received: unknown[] = [];
  const pool = new LinkPool({
    size: 1,
    logger: pino({ level: "silent" }),
    start: () => link,
    onSlotUp: (slot) => (slot.link.onmessage = (message) => void received.push(message)),
  });

  // WHEN the pool starts it
  await pool.start();
  await pool.close();

  // THEN the handler got the announcement
  expect(received).toStrictEqual([{ jsonrpc: "2.0", method: "notifications/tools/list_changed" }]);
});
