import { DrainGate } from "../../../services/router/src/http/drain";

beforeEach(() => {
  jest.useFakeTimers({ now: 1_800_000_000_000 });
});

afterEach(() => {
  jest.useRealTimers();
});

/** Whether `promise` has settled (after letting pending callbacks run). */
async function settled(promise: Promise<void>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  await jest.advanceTimersByTimeAsync(0);
  return done;
}

describe("DrainGate", () => {
  it("lets the close go ahead once no MCP request came for quietMs", async () => {
    // GIVEN a gate that starts draining
    const gate = new DrainGate({ quietMs: 1_000, maxMs: 10_000 });
    const done = gate.settle();

    // WHEN an MCP request comes after 600 ms, health checks keep coming, and time passes
    await jest.advanceTimersByTimeAsync(600);
    gate.touch("/mcp");
    const states = [gate.draining];
    for (const step of [500, 400, 200]) {
      await jest.advanceTimersByTimeAsync(step - 100);
      gate.touch("/health/ready");
      await jest.advanceTimersByTimeAsync(100);
      states.push(await settled(done));
    }

    // THEN it waited for a full quiet second after the last MCP request (at 1.6 s), not before
    expect(states).toStrictEqual([true, false, false, true]);
  });

  it("stops waiting after maxMs however busy it stays", async () => {
    const gate = new DrainGate({ quietMs: 1_000, maxMs: 3_000 });
    const done = gate.settle();
    const states: boolean[] = [];
    for (let t = 0; t < 8; t++) {
      await jest.advanceTimersByTimeAsync(500);
      gate.touch("/services/files/mcp");
      states.push(await settled(done));
    }
    expect(states).toStrictEqual([false, false, false, false, false, true, true, true]);
  });

  it("stops waiting when the shutdown deadline aborts its step", async () => {
    // GIVEN a gate draining as a shutdown step, with traffic that does not stop
    const gate = new DrainGate({ quietMs: 1_000, maxMs: 60_000 });
    const deadline = new AbortController();
    const done = gate.shutdownStep.run(deadline.signal);
    const states: boolean[] = [];
    for (let t = 0; t < 4; t++) {
      await jest.advanceTimersByTimeAsync(500);
      gate.touch("/mcp");
      states.push(await settled(done));
    }

    // WHEN the shutdown budget runs out
    deadline.abort();

    // THEN it was still waiting until then, and goes ahead at once
    expect(gate.shutdownStep.name).toBe("drain");
    expect(states).toStrictEqual([false, false, false, false]);
    expect(await settled(done)).toBe(true);
  });

  it("does not drain until asked", () => {
    expect(new DrainGate({ quietMs: 0, maxMs: 0 }).draining).toBe(false);
  });
});
