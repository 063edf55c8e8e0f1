/**
 * The monitor against real local HTTP and TCP servers (one healthy, one refusing, one hanging
 * past the timeout, one flapping), driven by a manual clock: states, trend figures, history
 * bounds and metrics are exact, and nothing sleeps.
 */
import type { MonitorApp } from "../../../services/network-monitor/src/app";
import type { Prober } from "../../../services/network-monitor/src/probes";
import { CLOCK_START, ManualClock } from "../../helpers/monitor-clock";
import { monitorApp, nextSample, targetsEnv } from "../../helpers/monitor-app";
import { flapping, hanging, HttpTarget, refusedPort } from "../../helpers/monitor-targets";

const INTERVAL_MS = 10_000;
const TIMEOUT_MS = 1_000;
const iso = (ms: number) => new Date(CLOCK_START + ms).toISOString();

describe("monitor against real healthy, refusing, hanging and flapping servers", () => {
  let clock: ManualClock;
  let healthy: HttpTarget;
  let stuck: HttpTarget;
  let flaky: HttpTarget;
  let refusing: number;
  let subject: MonitorApp;

  beforeEach(async () => {
    clock = new ManualClock();
    // The n-th health request takes n × 10 ms.
    healthy = await HttpTarget.start((n) => ({ status: 200, latencyMs: n * 10 }), clock);
    stuck = await HttpTarget.start(hanging, clock);
    flaky = await HttpTarget.start(flapping, clock);
    refusing = await refusedPort();
    subject = monitorApp(
      {
        MONITOR_TARGETS: targetsEnv({
          healthy: `${healthy.url}/health`,
          hanging: `${stuck.url}/health`,
          flapping: `${flaky.url}/health`,
          refusing: `http://127.0.0.1:${refusing}/health`,
        }),
        MONITOR_INTERVAL_MS: String(INTERVAL_MS),
        MONITOR_RETENTION_MINUTES: "1",
        MONITOR_PROBE_TIMEOUT_MS: String(TIMEOUT_MS),
        // One probe at a time, so each server's simulated latency lands in its own probe only.
        MONITOR_PROBE_CONCURRENCY: "1",
      },
      { clock, schedule: false },
    );
    await subject.app.ready();
  });

  afterEach(async () => {
    await subject.app.close();
    await Promise.all([healthy.close(), stuck.close(), flaky.close()]);
  });

  /**
   * Runs round `n` (1-based) at its interval: starts it, lets the hanging server's request time
   * out, waits for every probe, then moves the clock to the next round's start.
   */
  async function round(n: number): Promise<void> {
    const start = clock.now();
    const done = subject.monitor.tick();
    await stuck.waitForRequests("/health", n);
    clock.advance(TIMEOUT_MS);
    await done;
    clock.advance(start + INTERVAL_MS - clock.now());
  }

  async function get(url: string): Promise<{ status: number; body: unknown }> {
    const response = await subject.app.inject({ method: "GET", url });
    return { status: response.statusCode, body: response.json() };
  }

  it("serves each target's exact state, trend and bounded history after 8 rounds", async () => {
    // GIVEN / WHEN 8 rounds at 0 s, 10 s, … 70 s; the clock ends at 80 s
    for (let n = 1; n <= 8; n++) await round(n);

    // THEN /api/services shows each one as its last round found it
    const { port: healthyPort } = new URL(healthy.url);
    const instance = (name: string, url: string, rest: object) => ({
      id: name,
      endpoint: url,
      source: "static",
      consulStatus: null,
      lastProbeAt: iso(70_000),
      ...rest,
    });
    const service = (name: string, status: string, flappingNow: boolean, instanceView: object) => ({
      name,
      status,
      flapping: flappingNow,
      counts: { total: 1, up: status === "up" ? 1 : 0, down: status === "down" ? 1 : 0, unknown: 0 },
      instances: [instanceView],
    });
    const tcpOk = { kind: "tcp", outcome: "success", durationMs: 0 };
    expect(await get("/api/services")).toStrictEqual({
      status: 200,
      body: {
        generatedAt: iso(80_000),
        intervalMs: INTERVAL_MS,
        retentionMinutes: 1,
        summary: { up: 1, degraded: 0, down: 3, unknown: 0 },
        services: [
          service(
            "flapping",
            "down",
            true,
            instance("flapping", `${flaky.url}/health`, {
              status: "down",
              flapping: true,
              latencyMs: null,
              checks: [tcpOk, { kind: "http", outcome: "failure", durationMs: 0, error: "HTTP 503" }],
            }),
          ),
          service(
            "hanging",
            "down",
            false,
            // Probes run one at a time, the targets that were down last: hanging waits for the
            // healthy one (80 ms), refusing then for hanging's timeout. Each is stamped at its start.
            instance("hanging", `${stuck.url}/health`, {
              lastProbeAt: iso(70_080),
              status: "down",
              flapping: false,
              latencyMs: null,
              checks: [
                tcpOk,
                { kind: "http", outcome: "timeout", durationMs: 1000, error: "timed out after 1000 ms" },
              ],
            }),
          ),
          service(
            "healthy",
            "up",
            false,
            instance("healthy", `http://127.0.0.1:${healthyPort}/health`, {
              status: "up",
              flapping: false,
              latencyMs: 80,
              checks: [tcpOk, { kind: "http", outcome: "success", durationMs: 80 }],
            }),
          ),
          service(
            "refusing",
            "down",
            false,
            instance("refusing", `http://127.0.0.1:${refusing}/health`, {
              lastProbeAt: iso(71_080),
              status: "down",
              flapping: false,
              latencyMs: null,
              checks: [{ kind: "tcp", outcome: "failure", durationMs: 0, error: "ECONNREFUSED" }],
            }),
          ),
        ],
      },
    });

    // AND the last minute, (20 s, 80 s], holds rounds 4…8 of each target
    const figures = async (name: string) => {
      const { status, body } = await get(`/service/${name}/trend?minutes=1`);
      const { samples, upSamples, availabilityPercent, latencyMs, from, to } = body as Record<
        string,
        unknown
      >;
      return { status, samples, upSamples, availabilityPercent, latencyMs, from, to };
    };
    const window = { status: 200, from: iso(20_000), to: iso(80_000) };
    // healthy: latencies 40…80 ms; p50 is rank ⌈2.5⌉ = 3 (60 ms), p95 rank ⌈4.75⌉ = 5 (80 ms)
    expect(await figures("healthy")).toStrictEqual({
      ...window,
      samples: 5,
      upSamples: 5,
      availabilityPercent: 100,
      latencyMs: { p50: 60, p95: 80 },
    });
    // flapping: rounds 4…8 are down, up, down, up, down
    expect(await figures("flapping")).toStrictEqual({
      ...window,
      samples: 5,
      upSamples: 2,
      availabilityPercent: 40,
      latencyMs: { p50: 0, p95: 0 },
    });
    // hanging and refusing: their round-3 probes started after 20 s (they waited for a slot), so
    // the window holds rounds 3…8 of theirs
    for (const name of ["hanging", "refusing"]) {
      expect(await figures(name)).toStrictEqual({
        ...window,
        samples: 6,
        upSamples: 0,
        availabilityPercent: 0,
        latencyMs: null,
      });
    }

    // AND each history holds exactly the samples younger than the retention: 6 of 8 (20 s … 70 s)
    expect(subject.monitor.historyCapacity).toStrictEqual(7);
    expect(subject.monitor.history("static:healthy")).toStrictEqual(
      [3, 4, 5, 6, 7, 8].map((k) => ({
        at: CLOCK_START + (k - 1) * INTERVAL_MS,
        up: true,
        latencyMs: k * 10,
      })),
    );
    expect(subject.monitor.history("static:flapping")?.map((s) => s.up)).toStrictEqual([
      true,
      false,
      true,
      false,
      true,
      false,
    ]);

    // AND every server saw exactly one request per round: probes never overlapped
    expect([healthy.healthRequests, stuck.healthRequests, flaky.healthRequests]).toStrictEqual([8, 8, 8]);
  });

  it("exports probe outcomes and durations per service, labelled by name only", async () => {
    // GIVEN / WHEN 8 rounds
    for (let n = 1; n <= 8; n++) await round(n);
    const text = (await subject.app.inject({ method: "GET", url: "/metrics" })).body;
    const lines = (prefix: string) =>
      text
        .split("\n")
        .filter((line) => line.startsWith(prefix))
        .sort();

    // THEN
    expect(lines("monitor_probe_total{")).toStrictEqual([
      'monitor_probe_total{service="flapping",kind="http",outcome="failure"} 4',
      'monitor_probe_total{service="flapping",kind="http",outcome="success"} 4',
      'monitor_probe_total{service="flapping",kind="tcp",outcome="success"} 8',
      'monitor_probe_total{service="hanging",kind="http",outcome="timeout"} 8',
      'monitor_probe_total{service="hanging",kind="tcp",outcome="success"} 8',
      'monitor_probe_total{service="healthy",kind="http",outcome="success"} 8',
      'monitor_probe_total{service="healthy",kind="tcp",outcome="success"} 8',
      'monitor_probe_total{service="refusing",kind="tcp",outcome="failure"} 8',
    ]);
    // healthy's HTTP checks took 10, 20, … 80 ms: two within 25 ms, all eight within 100 ms
    expect([
      ...lines('monitor_probe_duration_seconds_count{service="healthy"'),
      ...lines('monitor_probe_duration_seconds_bucket{le="0.025",service="healthy"'),
      ...lines('monitor_probe_duration_seconds_bucket{le="0.1",service="healthy"'),
    ]).toStrictEqual([
      'monitor_probe_duration_seconds_count{service="healthy",kind="http"} 8',
      'monitor_probe_duration_seconds_count{service="healthy",kind="tcp"} 8',
      'monitor_probe_duration_seconds_bucket{le="0.025",service="healthy",kind="http"} 2',
      'monitor_probe_duration_seconds_bucket{le="0.025",service="healthy",kind="tcp"} 8',
      'monitor_probe_duration_seconds_bucket{le="0.1",service="healthy",kind="http"} 8',
      'monitor_probe_duration_seconds_bucket{le="0.1",service="healthy",kind="tcp"} 8',
    ]);
    expect(lines("monitor_target_up{")).toStrictEqual([
      'monitor_target_up{service="flapping"} 0',
      'monitor_target_up{service="hanging"} 0',
      'monitor_target_up{service="healthy"} 1',
      'monitor_target_up{service="refusing"} 0',
    ]);
    expect(lines('monitor_instances{service="healthy"')).toStrictEqual([
      'monitor_instances{service="healthy",status="down"} 0',
      'monitor_instances{service="healthy",status="unknown"} 0',
      'monitor_instances{service="healthy",status="up"} 1',
    ]);
    // Bounded labels: nothing but service, kind, outcome, status (and histogram buckets).
    const labelNames = new Set(
      text
        .split("\n")
        .filter((line) => line.startsWith("monitor_"))
        .flatMap((line) => [...line.matchAll(/([a-z_]+)="/g)].map((match) => match[1])),
    );
    expect([...labelNames].sort()).toStrictEqual(["kind", "le", "outcome", "service", "status"]);
  });

  it("answers 400 for a window outside the retention and 404 for an unknown service", async () => {
    expect(await get("/service/healthy/trend?minutes=2")).toStrictEqual({
      status: 400,
      body: { error: "minutes must be an integer between 1 and 1" },
    });
    expect(await get("/service/healthy/trend?minutes=abc")).toStrictEqual({
      status: 400,
      body: { error: "minutes must be an integer between 1 and 1" },
    });
    expect(await get("/service/nope/trend")).toStrictEqual({
      status: 404,
      body: { error: "unknown service" },
    });
  });
});

describe("monitor schedule", () => {
  let clock: ManualClock;
  let quick: HttpTarget;
  let stuck: HttpTarget;
  let subject: MonitorApp;

  beforeEach(async () => {
    clock = new ManualClock();
    quick = await HttpTarget.start(() => ({ status: 200 }), clock);
    stuck = await HttpTarget.start(hanging, clock);
    // The probe timeout (2.5 s) outlasts the interval (1 s): a hung probe spans rounds.
    subject = monitorApp(
      {
        MONITOR_TARGETS: targetsEnv({ quick: `${quick.url}/health`, stuck: `${stuck.url}/health` }),
        MONITOR_INTERVAL_MS: "1000",
        MONITOR_PROBE_TIMEOUT_MS: "2500",
      },
      { clock },
    );
    await subject.app.ready();
  });

  afterEach(async () => {
    await subject.app.close();
    await Promise.all([quick.close(), stuck.close()]);
  });

  it("probes every interval and never overlaps probes of a slow target", async () => {
    const { monitor } = subject;
    // GIVEN the schedule started when the app became ready; WHEN its first round fires at 0 s
    let quickSample = nextSample(monitor, "static:quick");
    clock.advance(0);
    await quickSample;
    await stuck.waitForRequests("/health", 1);

    // WHEN two more intervals pass while the stuck probe still waits
    for (let round = 2; round <= 3; round++) {
      quickSample = nextSample(monitor, "static:quick");
      clock.advance(1000);
      await quickSample;
    }

    // THEN the quick target was probed each round, the stuck one only once
    expect([quick.healthRequests, stuck.healthRequests]).toStrictEqual([3, 1]);

    // WHEN its timeout passes at 2.5 s, and the next round starts at 3 s
    const stuckSample = nextSample(monitor, "static:stuck");
    clock.advance(500);
    const timedOut = await stuckSample;
    quickSample = nextSample(monitor, "static:quick");
    clock.advance(500);
    await quickSample;
    await stuck.waitForRequests("/health", 2);

    // THEN it timed out once, and was probed again only in the round after that
    expect(timedOut.sample).toStrictEqual({ at: CLOCK_START, up: false, latencyMs: 2500 });
    expect([quick.healthRequests, stuck.healthRequests]).toStrictEqual([4, 2]);
    const metrics = (await subject.app.inject({ method: "GET", url: "/metrics" })).body;
    expect(
      metrics.split("\n").filter((line) => line.startsWith("monitor_probe_overruns_total{")),
    ).toStrictEqual(['monitor_probe_overruns_total{service="stuck"} 2']);
  });

  it("keeps probing every interval when the wall clock steps back", async () => {
    const { monitor } = subject;
    // GIVEN the schedule running, its first round done at 0 s
    let quickSample = nextSample(monitor, "static:quick");
    clock.advance(0);
    await quickSample;

    // WHEN the wall clock steps back an hour, and two intervals pass
    clock.stepWallClock(-3_600_000);
    const stamps: number[] = [];
    for (let round = 2; round <= 3; round++) {
      quickSample = nextSample(monitor, "static:quick");
      clock.advance(1000);
      stamps.push((await quickSample).sample.at);
    }

    // THEN each round came on time, stamped with the new wall time
    expect([quick.healthRequests, stamps]).toStrictEqual([
      3,
      [CLOCK_START + 1000 - 3_600_000, CLOCK_START + 2000 - 3_600_000],
    ]);
  });
});

describe("monitor memory", () => {
  /** A prober without I/O: every target up. */
  const prober: Prober = async () => ({
    up: true,
    latencyMs: 1,
    checks: [{ kind: "tcp", outcome: "success", durationMs: 1 }],
  });

  it("keeps the history of at most 1,000 instances that left, forgetting the oldest", async () => {
    // GIVEN a monitor whose targets are replaced by fresh ones after every round, as a registrar
    // handing out new instance ids without end would
    const clock = new ManualClock();
    const subject = monitorApp(
      { MONITOR_TARGETS: targetsEnv({ first: "tcp://10.0.0.1:1" }), MONITOR_RETENTION_MINUTES: "60" },
      { clock, schedule: false, prober },
    );
    const { monitor } = subject;
    const template = monitor.targets()[0]!;
    const generation = (n: number) =>
      Array.from({ length: 100 }, (_, i) => ({
        ...template,
        id: `static:g${n}-${i}`,
        instance: `g${n}-${i}`,
      }));

    // WHEN 12 generations of 100 instances each are probed once and then leave
    for (let n = 0; n < 12; n++) {
      monitor.setTargets("static", generation(n));
      await monitor.tick();
    }
    monitor.setTargets("static", []);

    // THEN the 1,000 that left last keep their history, the 200 that left first are forgotten
    const kept = (n: number) => generation(n).filter((t) => monitor.history(t.id) !== undefined).length;
    expect(Array.from({ length: 12 }, (_, n) => kept(n))).toStrictEqual([0, 0, ...Array(10).fill(100)]);
    await subject.app.close();
  });

  it("keeps every history at its bound however many rounds run, and forgets retired targets", async () => {
    // GIVEN a monitor with a fake prober (no I/O), 10 s rounds and a minute of retention
    const clock = new ManualClock();
    const subject = monitorApp(
      {
        MONITOR_TARGETS: targetsEnv({ a: "tcp://10.0.0.1:1", b: "tcp://10.0.0.2:1" }),
        MONITOR_INTERVAL_MS: "10000",
        MONITOR_RETENTION_MINUTES: "1",
      },
      { clock, schedule: false, prober },
    );
    const { monitor } = subject;

    // WHEN 1000 rounds run (almost 3 hours of probing)
    const sizes = new Set<number>();
    for (let n = 1; n <= 1000; n++) {
      await monitor.tick();
      if (n >= 6) sizes.add(monitor.history("static:a")?.length ?? -1);
      clock.advance(10_000);
    }

    // THEN from the 6th round on the history held exactly 6 samples, never more
    expect([...sizes]).toStrictEqual([6]);

    // WHEN target b leaves, and a minute passes
    monitor.setTargets(
      "static",
      monitor.targets().filter((target) => target.id === "static:a"),
    );
    expect(monitor.history("static:b")?.length).toStrictEqual(6);
    clock.advance(60_000);
    await monitor.tick();

    // THEN its history aged out and the monitor forgot it, series included
    expect(monitor.history("static:b")).toStrictEqual(undefined);
    const text = (await subject.app.inject({ method: "GET", url: "/metrics" })).body;
    const probeLines = text.split("\n").filter((line) => line.startsWith("monitor_probe_total{"));
    expect(probeLines).toStrictEqual(['monitor_probe_total{service="a",kind="tcp",outcome="success"} 1001']);
    expect(text.includes('service="b"')).toStrictEqual(false);
    await subject.app.close();
  });
});
