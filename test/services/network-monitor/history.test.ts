import { historyCapacity, SampleHistory } from "../../../services/network-monitor/src/history";
import type { Sample } from "../../../services/network-monitor/src/history";

/** A sample every 10 s from t=10 000, up unless listed, latency = its index. */
function samples(count: number, down: readonly number[] = []): Sample[] {
  return Array.from({ length: count }, (_, i) => ({
    at: (i + 1) * 10_000,
    up: !down.includes(i),
    latencyMs: i,
  }));
}

describe("historyCapacity", () => {
  it.each([
    // retention, interval, capacity: samples younger than the retention, plus one for jitter
    [60_000, 10_000, 7],
    [60_000, 7_000, 10],
    [3_600_000, 10_000, 361],
    [60_000, 60_000, 2],
  ])("retention %d ms at %d ms intervals → %d samples", (retention, interval, expected) => {
    expect(historyCapacity(retention, interval)).toStrictEqual(expected);
  });
});

describe("SampleHistory", () => {
  it("holds exactly `capacity` samples however many are pushed, the newest ones", () => {
    // GIVEN a history of capacity 7 with a retention long enough not to prune
    const history = new SampleHistory(7, Number.MAX_SAFE_INTEGER);

    // WHEN 1000 samples are pushed
    for (const sample of samples(1000)) history.push(sample);

    // THEN it holds the last 7 and never allocated room for more
    expect(history.size).toStrictEqual(7);
    expect(history.allocated).toStrictEqual(7);
    expect(history.last(100).map((s) => s.latencyMs)).toStrictEqual([993, 994, 995, 996, 997, 998, 999]);
    expect(history.latest()).toStrictEqual({ at: 10_000_000, up: true, latencyMs: 999 });
  });

  it("grows its arrays by doubling up to the capacity, keeping the order", () => {
    // GIVEN a large capacity
    const history = new SampleHistory(200, Number.MAX_SAFE_INTEGER);

    // WHEN samples arrive one past each allocation step
    const allocations: number[] = [history.allocated];
    for (const sample of samples(250)) {
      history.push(sample);
      if (history.allocated !== allocations.at(-1)) allocations.push(history.allocated);
    }

    // THEN allocation went 64 → 128 → 200 and the newest 200 samples are in order
    expect(allocations).toStrictEqual([64, 128, 200]);
    expect(history.size).toStrictEqual(200);
    expect(history.last(3).map((s) => s.latencyMs)).toStrictEqual([247, 248, 249]);
    expect(history.last(200)[0]?.latencyMs).toStrictEqual(50);
  });

  it("prunes samples at or before now - retention", () => {
    // GIVEN a minute of retention and samples at 10 s … 120 s
    const history = new SampleHistory(100, 60_000);
    for (const sample of samples(12)) history.push(sample);

    // WHEN pruned at 120 s (cut-off 60 s: the 60 s sample is exactly one retention old)
    const dropped = history.prune(120_000);

    // THEN 10 s … 60 s are gone and 70 s … 120 s remain
    expect(dropped).toStrictEqual(6);
    expect(history.last(100).map((s) => s.at)).toStrictEqual([
      70_000, 80_000, 90_000, 100_000, 110_000, 120_000,
    ]);

    // WHEN pruned long after the last sample THEN it is empty and takes new samples from the start
    expect(history.prune(1_000_000)).toStrictEqual(6);
    expect(history.size).toStrictEqual(0);
    expect(history.latest()).toStrictEqual(undefined);
    history.push({ at: 1_000_001, up: false, latencyMs: 3 });
    expect(history.last(5)).toStrictEqual([{ at: 1_000_001, up: false, latencyMs: 3 }]);
  });

  it("returns the samples of a half-open window (from, to]", () => {
    // GIVEN samples at 10 s … 50 s, the third one down
    const history = new SampleHistory(10, Number.MAX_SAFE_INTEGER);
    for (const sample of samples(5, [2])) history.push(sample);

    // WHEN / THEN
    expect(history.between(20_000, 40_000)).toStrictEqual([
      { at: 30_000, up: false, latencyMs: 2 },
      { at: 40_000, up: true, latencyMs: 3 },
    ]);
    expect(history.between(50_000, 90_000)).toStrictEqual([]);
  });

  it("refuses a capacity below 1", () => {
    expect(() => new SampleHistory(0, 1000)).toThrow("capacity 0 must be >= 1");
  });
});
