/**
 * The probe limiter: at most `limit` tasks at once, waiting tasks in arrival order, deferred ones
 * (probes of targets that were down) behind every task that is not deferred.
 */
import { createLimiter } from "../../../services/network-monitor/src/limiter";

describe("createLimiter", () => {
  it("starts deferred tasks only once no other task waits", async () => {
    // GIVEN a limit of one, held by a task that has not finished
    const limit = createLimiter(1);
    let release!: () => void;
    const holding = limit(() => new Promise<void>((resolve) => (release = resolve)));
    const order: string[] = [];
    const task = (name: string) => async () => void order.push(name);

    // WHEN deferred and normal tasks queue up in turn, and the slot frees
    const queued = [
      limit(task("down-1"), true),
      limit(task("up-1")),
      limit(task("down-2"), true),
      limit(task("up-2")),
    ];
    await Promise.resolve();
    expect(order).toStrictEqual([]);
    release();
    await Promise.all([holding, ...queued]);

    // THEN the normal ones ran first, each group in arrival order
    expect(order).toStrictEqual(["up-1", "up-2", "down-1", "down-2"]);
  });

  it("runs at most `limit` tasks at once and frees a slot when a task throws", async () => {
    const limit = createLimiter(2);
    let running = 0;
    let most = 0;
    const work = (fail: boolean) => async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setImmediate(resolve));
      running--;
      if (fail) throw new Error("probe bug");
    };
    const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => limit(work(i % 3 === 0))));
    expect([most, results.map((r) => r.status)]).toStrictEqual([
      2,
      ["rejected", "fulfilled", "fulfilled", "rejected", "fulfilled", "fulfilled"],
    ]);
  });
});

describe("createLimiter with deferred tasks that hang", () => {
  it("lets deferred tasks hold at most half the slots, so the others still run", async () => {
    // GIVEN a limit of four and deferred tasks (probes of down targets) that hang until released
    const limit = createLimiter(4);
    const releases: (() => void)[] = [];
    const hang = () => new Promise<void>((resolve) => releases.push(resolve));
    const hung = Array.from({ length: 5 }, () => limit(hang, true));
    await Promise.resolve();

    // WHEN normal tasks come while they hang
    const order: string[] = [];
    const normal = ["up-1", "up-2", "up-3"].map((name) => limit(async () => void order.push(name)));
    await Promise.all(normal);

    // THEN only two deferred tasks started, and every normal task ran meanwhile
    expect([releases.length, order]).toStrictEqual([2, ["up-1", "up-2", "up-3"]]);

    // AND as deferred tasks end, the waiting ones start, still two at a time
    releases.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
    expect(releases.length).toBe(2);
    while (releases.length > 0) {
      releases.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(hung);
  });

  it("still runs a deferred task on a single slot once nothing else waits", async () => {
    const limit = createLimiter(1);
    expect(await limit(async () => "down", true)).toBe("down");
  });
});
