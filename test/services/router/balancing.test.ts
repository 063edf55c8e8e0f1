import fc from "fast-check";
import { InstanceHealth, pickLeastOutstanding } from "../../../services/router/src/upstream/balancing";

describe("pickLeastOutstanding", () => {
  it("picks an instance with the fewest requests in flight", () => {
    fc.assert(
      fc.property(fc.array(fc.nat(50), { minLength: 1, maxLength: 8 }), fc.nat(100), (loads, rotation) => {
        const index = pickLeastOutstanding(
          loads.map((outstanding) => ({ outstanding })),
          rotation,
        );
        expect(loads[index]).toBe(Math.min(...loads));
      }),
    );
  });

  it("lets equally loaded instances take turns as the rotation advances", () => {
    const idle = [{ outstanding: 0 }, { outstanding: 0 }, { outstanding: 0 }];
    expect([0, 1, 2, 3].map((rotation) => pickLeastOutstanding(idle, rotation))).toStrictEqual([0, 1, 2, 0]);
  });

  it("prefers the less loaded instance whatever the rotation, and has nothing to pick from nothing", () => {
    const loads = [{ outstanding: 3 }, { outstanding: 1 }, { outstanding: 2 }];
    expect([0, 1, 2].map((rotation) => pickLeastOutstanding(loads, rotation))).toStrictEqual([1, 1, 1]);
    expect(pickLeastOutstanding([], 0)).toBe(-1);
  });
});

describe("InstanceHealth", () => {
  const policy = { failuresToEject: 3, baseMs: 1_000, maxMs: 4_000 };

  it("ejects after consecutive failures only; an answer resets the count", () => {
    // GIVEN a healthy instance
    const health = new InstanceHealth(policy);

    // WHEN it fails twice, answers, then fails three times
    const steps = [
      health.recordFailure(0),
      health.recordFailure(0),
      health.recordSuccess(),
      health.recordFailure(10),
      health.recordFailure(10),
      health.recordFailure(10),
    ];

    // THEN only the third failure in a row ejects it, with its first probe due after baseMs
    expect(steps).toStrictEqual([false, false, false, false, false, true]);
    expect([health.current, health.probeAt]).toStrictEqual(["ejected", 1_010]);
  });

  it("doubles the ejection after each failed probe, up to maxMs, and lets it back on a good one", () => {
    // GIVEN an instance ejected at t=0
    const health = new InstanceHealth(policy);
    for (let i = 0; i < 3; i++) health.recordFailure(0);

    // WHEN a call that was in flight fails too, then three probes fail, then one succeeds
    health.recordFailure(500);
    const due = [health.probeAt];
    for (const at of [1_000, 3_000, 7_000]) {
      health.probeFailed(at);
      due.push(health.probeAt);
    }
    const back = health.recordSuccess();

    // THEN the late failure changed nothing, the waits were 1 s, 2 s, 4 s and 4 s, and it is
    // healthy again with a fresh count
    expect(due).toStrictEqual([1_000, 3_000, 7_000, 11_000]);
    expect([back, health.current, health.probeAt, health.consecutiveFailures]).toStrictEqual([
      true,
      "healthy",
      0,
      0,
    ]);
  });
});
