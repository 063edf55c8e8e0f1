import type { Sample } from "../../../services/network-monitor/src/history";
import {
  figures,
  percentile,
  round2,
  series,
  serviceTrend,
} from "../../../services/network-monitor/src/trend";

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

describe("percentile (nearest rank)", () => {
  it.each([
    // values, p, expected: the value at rank ceil(p/100 × n)
    [[10], 50, 10],
    [[10], 95, 10],
    [[1, 2, 3, 4], 50, 2],
    [[1, 2, 3, 4], 95, 4],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50, 5],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95, 10],
    [Array.from({ length: 20 }, (_, i) => i + 1), 95, 19],
    [Array.from({ length: 100 }, (_, i) => i + 1), 95, 95],
    [[], 50, undefined],
  ])("%j p%d → %s", (values, p, expected) => {
    expect(percentile(values, p)).toStrictEqual(expected);
  });
});

describe("figures", () => {
  it("counts availability over every sample and latency over up samples only", () => {
    // GIVEN 6 samples, 2 down (their latencies, 900 and 1000, must not count)
    const samples: Sample[] = [
      { at: 1, up: true, latencyMs: 30 },
      { at: 2, up: false, latencyMs: 900 },
      { at: 3, up: true, latencyMs: 10 },
      { at: 4, up: true, latencyMs: 40 },
      { at: 5, up: false, latencyMs: 1000 },
      { at: 6, up: true, latencyMs: 20.125 },
    ];

    // WHEN / THEN 4/6 up = 66.67 %; up latencies 10, 20.125, 30, 40 → p50 rank 2, p95 rank 4
    expect(figures(samples)).toStrictEqual({
      samples: 6,
      upSamples: 4,
      availabilityPercent: 66.67,
      latencyMs: { p50: 20.13, p95: 40 },
    });
  });

  it("has no availability without samples and no latency without up samples", () => {
    expect(figures([])).toStrictEqual({
      samples: 0,
      upSamples: 0,
      availabilityPercent: null,
      latencyMs: null,
    });
    expect(figures([{ at: 1, up: false, latencyMs: 5 }])).toStrictEqual({
      samples: 1,
      upSamples: 0,
      availabilityPercent: 0,
      latencyMs: null,
    });
  });
});

describe("series", () => {
  it("puts each sample in the bucket whose half-open interval (start, end] holds it", () => {
    // GIVEN a 60 s window split into 3 buckets of 20 s, and samples on and between the edges
    const from = T0;
    const samples: Sample[] = [
      { at: from, up: true, latencyMs: 99 }, // on the window's open start: excluded
      { at: from + 1, up: true, latencyMs: 1 },
      { at: from + 20_000, up: false, latencyMs: 2 }, // end of bucket 0
      { at: from + 20_001, up: true, latencyMs: 3 },
      { at: from + 60_000, up: true, latencyMs: 4 }, // end of the window: last bucket
    ];

    // WHEN
    const points = series(samples, from, from + 60_000, 3);

    // THEN
    expect(points).toStrictEqual([
      {
        at: "2026-01-01T12:00:20.000Z",
        samples: 2,
        upSamples: 1,
        availabilityPercent: 50,
        latencyMs: { p50: 1, p95: 1 },
      },
      {
        at: "2026-01-01T12:00:40.000Z",
        samples: 1,
        upSamples: 1,
        availabilityPercent: 100,
        latencyMs: { p50: 3, p95: 3 },
      },
      {
        at: "2026-01-01T12:01:00.000Z",
        samples: 1,
        upSamples: 1,
        availabilityPercent: 100,
        latencyMs: { p50: 4, p95: 4 },
      },
    ]);
  });
});

describe("serviceTrend", () => {
  it("reports the window, the figures over it and a 30-point series", () => {
    // GIVEN 2 minutes of samples every 10 s (12 samples), every fourth one down
    const to = T0 + 120_000;
    const samples: Sample[] = Array.from({ length: 12 }, (_, i) => ({
      at: T0 + (i + 1) * 10_000,
      up: i % 4 !== 3,
      latencyMs: (i + 1) * 5,
    }));

    // WHEN the last minute is asked for
    const trend = serviceTrend("mcp-files", samples, 1, to);

    // THEN it covers (12:01:00, 12:02:00]: samples 7…12 (latencies 35…60), samples 8 and 12 down,
    // so the up latencies are 35, 45, 50, 55: p50 is rank 2, p95 rank 4
    expect({ ...trend, series: trend.series.length }).toStrictEqual({
      service: "mcp-files",
      minutes: 1,
      from: "2026-01-01T12:01:00.000Z",
      to: "2026-01-01T12:02:00.000Z",
      samples: 6,
      upSamples: 4,
      availabilityPercent: 66.67,
      latencyMs: { p50: 45, p95: 55 },
      series: 30,
    });
    expect(
      trend.series.filter((point) => point.samples > 0).map((point) => [point.at, point.upSamples]),
    ).toStrictEqual([
      ["2026-01-01T12:01:10.000Z", 1],
      ["2026-01-01T12:01:20.000Z", 0],
      ["2026-01-01T12:01:30.000Z", 1],
      ["2026-01-01T12:01:40.000Z", 1],
      ["2026-01-01T12:01:50.000Z", 1],
      ["2026-01-01T12:02:00.000Z", 0],
    ]);
  });
});

describe("round2", () => {
  it.each([
    [66.666666, 66.67],
    [0.125, 0.13],
    [12, 12],
  ])("%d → %d", (value, expected) => {
    expect(round2(value)).toStrictEqual(expected);
  });
});
