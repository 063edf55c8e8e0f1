import type { Sample } from "../../../services/network-monitor/src/history";
import {
  countInstances,
  instanceStatus,
  isFlapping,
  serviceStatus,
  transitions,
} from "../../../services/network-monitor/src/state";

/** Samples from a string of u (up) and d (down), oldest first. */
function pattern(text: string): Sample[] {
  return [...text].map((c, i) => ({ at: i, up: c === "u", latencyMs: 1 }));
}

describe("instanceStatus", () => {
  it("is unknown before the first probe, then what the last probe found", () => {
    expect(instanceStatus(undefined)).toStrictEqual("unknown");
    expect(instanceStatus({ at: 1, up: true, latencyMs: 1 })).toStrictEqual("up");
    expect(instanceStatus({ at: 1, up: false, latencyMs: 1 })).toStrictEqual("down");
  });
});

describe("flapping", () => {
  it.each([
    // history, transitions, flapping: 3 changes within the last 10 samples
    ["uuuuuuuuuu", 0, false],
    ["uuuuuddddd", 1, false],
    ["uuddu", 2, false],
    ["udud", 3, true],
    ["ududududud", 9, true],
    // old changes beyond the last 10 samples do not count
    ["ududuuuuuuuuuu", 4, false],
    ["uuuuuuuudud", 3, true],
  ])("%s: %d transitions, flapping %s", (history, changes, flapping) => {
    const samples = pattern(history);
    expect(transitions(samples)).toStrictEqual(changes);
    expect(isFlapping(samples)).toStrictEqual(flapping);
  });
});

describe("serviceStatus", () => {
  it.each([
    [[], "unknown"],
    [["unknown", "unknown"], "unknown"],
    [["up"], "up"],
    [["up", "up", "unknown"], "up"],
    [["up", "down"], "degraded"],
    [["down", "down"], "down"],
    [["down", "unknown"], "down"],
  ] as const)("%j → %s", (statuses, expected) => {
    expect(serviceStatus(countInstances(statuses))).toStrictEqual(expected);
  });

  it("counts instances by status", () => {
    expect(countInstances(["up", "down", "up", "unknown"])).toStrictEqual({
      total: 4,
      up: 2,
      down: 1,
      unknown: 1,
    });
  });
});
