/**
 * The monitor: the current targets, their bounded histories, the probe schedule, and what
 * `/api/services` (`views.ts`), the trend endpoint and the gauges are built from.
 *
 * Scheduling: one round every `intervalMs` on the injected clock (`start`), or driven by hand
 * (`tick`, which tests call). A round probes every current target whose previous probe has
 * finished; a target still being probed is skipped (and counted as an overrun), so probes of a
 * slow target never overlap however long it hangs, and the probe timeout ends the hang.
 *
 * Targets come from two sources, `consul` (discovery) and `static` (`MONITOR_TARGETS`), each
 * replaced as a whole by `setTargets`. A target that leaves keeps its history until it ages out,
 * so a service's trend still counts the failures of an instance that crashed and was removed;
 * it is no longer probed or shown in `/api/services`.
 */
import { EventEmitter } from "node:events";
import type { Logger } from "@mcp-platform/shared";
import type { Registry } from "prom-client";
import type { Dispatcher } from "undici";
import type { Clock, TimerHandle } from "./clock";
import type { Sample } from "./history";
import { historyCapacity, SampleHistory } from "./history";
import type { Limiter } from "./limiter";
import { createLimiter } from "./limiter";
import { MonitorMetrics } from "./monitor-metrics";
import type { Prober, ProbeResult } from "./probes";
import { probeTarget } from "./probes";
import type { InstanceCounts, InstanceStatus } from "./state";
import { countInstances, instanceStatus } from "./state";
import type { Target, TargetSource } from "./targets";
import type { ServiceTrend } from "./trend";
import { serviceTrend } from "./trend";
import type { LastRound, ServicesView } from "./views";
import { instanceView, servicesView, serviceView } from "./views";

/** Options of `Monitor`. */
export interface MonitorOptions {
  readonly intervalMs: number;
  readonly retentionMinutes: number;
  /** Budget of each check. */
  readonly probeTimeoutMs: number;
  /** Probes running at once. */
  readonly concurrency: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Sent as the User-Agent and MCP client version. */
  readonly version: string;
  /** Where the `monitor_*` series are registered (the app's registry). */
  readonly registry: Registry;
  /** Runs one target's checks; `probeTarget` by default. */
  readonly prober?: Prober;
  /** undici dispatcher of the HTTP checks. */
  readonly dispatcher?: Dispatcher;
  /** Bearer token for the MCP probe of routers (see `ProbeContext.routerToken`). */
  readonly routerToken?: string;
}

/** What `round` reports. */
export interface RoundSummary {
  /** Round start (clock wall time). */
  readonly at: number;
  readonly probed: number;
  /** Targets skipped because their previous probe was still running. */
  readonly skipped: number;
}

/** What `targets` reports. */
export interface TargetsChange {
  readonly source: TargetSource;
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

/** Events a monitor emits; tests wait on them instead of sleeping. */
export interface MonitorEvents {
  /** A probe round finished for one target. */
  sample: [target: Target, sample: Sample, result: ProbeResult];
  /** Every probe a `tick` started has finished. */
  round: [summary: RoundSummary];
  /** `setTargets` was called (whether or not anything changed). */
  targets: [change: TargetsChange];
}

/**
 * Most retired targets whose history is kept: a registrar handing out fresh instance ids without
 * end (a crash loop) would otherwise grow the monitor for the whole retention. The ones retired
 * longest ago go first.
 */
export const MAX_RETIRED_TARGETS = 1_000;

interface TargetState {
  target: Target;
  /** Still in the current target set (probed and shown), or retired (history only). */
  current: boolean;
  /** When it was retired (a count that only grows), for dropping the oldest past the cap. */
  retiredAt?: number;
  readonly history: SampleHistory;
  last?: LastRound;
  inFlight?: Promise<void>;
}

/** Probes targets on a schedule and keeps their bounded history. */
export class Monitor extends EventEmitter<MonitorEvents> {
  private readonly options: MonitorOptions;
  private readonly states = new Map<string, TargetState>();
  private readonly limiter: Limiter;
  private readonly metrics: MonitorMetrics;
  private readonly prober: Prober;
  private readonly stopping = new AbortController();
  private readonly capacity: number;
  private timer: TimerHandle | undefined;
  private started = false;
  /** Targets retired so far (`TargetState.retiredAt`). */
  private retirements = 0;

  constructor(options: MonitorOptions) {
    super();
    this.options = options;
    this.limiter = createLimiter(options.concurrency);
    this.prober = options.prober ?? probeTarget;
    this.capacity = historyCapacity(this.retentionMs, options.intervalMs);
    this.metrics = new MonitorMetrics(options.registry, () => this.serviceCounts());
  }

  /** Retention in ms. */
  get retentionMs(): number {
    return this.options.retentionMinutes * 60_000;
  }

  /** Samples each target's history holds at most. */
  get historyCapacity(): number {
    return this.capacity;
  }

  /** Replaces the targets of one source; targets of the other source are untouched. */
  setTargets(source: TargetSource, targets: readonly Target[]): void {
    const incoming = new Map(targets.map((target) => [target.id, target]));
    const added: string[] = [];
    const removed: string[] = [];
    for (const [id, state] of this.states) {
      if (state.target.source !== source) continue;
      const next = incoming.get(id);
      if (next !== undefined) {
        if (!state.current) added.push(id);
        state.current = true;
        delete state.retiredAt;
        state.target = next;
      } else if (state.current) {
        state.current = false;
        state.retiredAt = this.retirements++;
        removed.push(id);
      }
    }
    for (const [id, target] of incoming) {
      if (this.states.has(id)) continue;
      this.states.set(id, {
        target,
        current: true,
        history: new SampleHistory(this.capacity, this.retentionMs),
      });
      added.push(id);
    }
    if (added.length > 0 || removed.length > 0) {
      this.options.logger.info({ source, added, removed }, "targets changed");
    }
    this.collectGarbage();
    this.emit("targets", { source, added: added.sort(), removed: removed.sort() });
  }

  /** The current targets, sorted by id. */
  targets(): Target[] {
    return this.current().map((state) => state.target);
  }

  /** Samples held for a target (current or retired); `undefined` for one never seen. */
  history(targetId: string): readonly Sample[] | undefined {
    const state = this.states.get(targetId);
    return state?.history.last(state.history.size);
  }

  /**
   * Runs one round: prunes old samples, then probes every current target not still being
   * probed. Resolves when the probes this round started have finished.
   */
  async tick(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    const at = this.options.clock.now();
    for (const state of this.states.values()) state.history.prune(at);
    this.collectGarbage();
    const started: Promise<void>[] = [];
    let skipped = 0;
    for (const state of this.current()) {
      if (state.inFlight !== undefined) {
        skipped++;
        this.metrics.recordOverrun(state.target.service);
        continue;
      }
      // Stamped when the probe starts, not when the round did: it may wait for a slot. Targets
      // that were down wait behind the others (see `Limiter`).
      const wasDown = state.last !== undefined && !state.last.result.up;
      const run = this.limiter(() => this.probe(state, this.options.clock.now()), wasDown)
        .then((recorded) => {
          // Free the target before telling anyone, so a listener that starts the next round
          // sees it idle.
          state.inFlight = undefined;
          if (recorded !== undefined) this.emit("sample", state.target, recorded.sample, recorded.result);
        })
        .catch((error: unknown) => {
          // Only a throwing listener gets here; it must not stop the schedule.
          state.inFlight = undefined;
          this.options.logger.error({ err: error, target: state.target.service }, "sample listener threw");
        });
      state.inFlight = run;
      started.push(run);
    }
    await Promise.all(started);
    this.emit("round", { at, probed: started.length, skipped });
  }

  /** Probes a round now, then every `intervalMs` on the clock, until `stop`. */
  start(): void {
    if (this.started || this.stopping.signal.aborted) return;
    this.started = true;
    this.scheduleAt(this.options.clock.monotonic());
  }

  /** Stops the schedule, aborts probes in flight and waits for them to end. */
  async stop(): Promise<void> {
    this.stopping.abort(new Error("monitor stopped"));
    if (this.timer !== undefined) this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.states.values()].map((state) => state.inFlight));
  }

  /** The current state of every service and instance. */
  view(): ServicesView {
    const byService = new Map<string, TargetState[]>();
    for (const state of this.current()) {
      const list = byService.get(state.target.service) ?? [];
      list.push(state);
      byService.set(state.target.service, list);
    }
    const services = [...byService.keys()].sort().map((name) =>
      serviceView(
        name,
        (byService.get(name) ?? []).map((state) => instanceView(state.target, state.history, state.last)),
      ),
    );
    return servicesView(services, {
      now: this.options.clock.now(),
      intervalMs: this.options.intervalMs,
      retentionMinutes: this.options.retentionMinutes,
    });
  }

  /** The trend of a service over the last `minutes`; `undefined` when it has no target or history. */
  trend(service: string, minutes: number): ServiceTrend | undefined {
    const states = [...this.states.values()].filter((state) => state.target.service === service);
    if (states.length === 0) return undefined;
    const to = this.options.clock.now();
    const from = to - minutes * 60_000;
    const samples = states.flatMap((state) => state.history.between(from, to)).sort((a, b) => a.at - b.at);
    return serviceTrend(service, samples, minutes, to);
  }

  /**
   * Runs a round at `due` (monotonic ms), then schedules the next. Monotonic, not wall time: a
   * wall clock stepped back (NTP, an operator) would otherwise stop probing for as long as the
   * step, while the dashboard kept showing the last states.
   */
  private scheduleAt(due: number): void {
    const { clock, intervalMs } = this.options;
    this.timer = clock.setTimeout(
      () => {
        this.timer = undefined;
        if (this.stopping.signal.aborted) return;
        void this.tick();
        // Fixed rate; after a stall (a suspended host) skip the missed rounds.
        const now = clock.monotonic();
        const next = due + intervalMs;
        this.scheduleAt(next > now ? next : now + intervalMs);
      },
      Math.max(0, due - clock.monotonic()),
    );
  }

  /** Probes one target and records the round; `undefined` when there is nothing to record. */
  private async probe(
    state: TargetState,
    at: number,
  ): Promise<{ sample: Sample; result: ProbeResult } | undefined> {
    const { target } = state;
    const context = {
      clock: this.options.clock,
      timeoutMs: this.options.probeTimeoutMs,
      signal: this.stopping.signal,
      version: this.options.version,
      ...(this.options.dispatcher === undefined ? {} : { dispatcher: this.options.dispatcher }),
      ...(this.options.routerToken === undefined ? {} : { routerToken: this.options.routerToken }),
    };
    let result: ProbeResult;
    try {
      result = await this.prober(target, context);
    } catch (error) {
      // Probers do not throw; if one does, that is a monitor bug, not a down target.
      this.options.logger.error(
        { err: error, target: target.service, instance: target.instance },
        "probe threw",
      );
      return undefined;
    }
    if (this.stopping.signal.aborted) return undefined;
    const before = instanceStatus(state.history.latest());
    const sample: Sample = { at, up: result.up, latencyMs: result.latencyMs };
    state.history.push(sample);
    state.last = { at, result };
    for (const check of result.checks) this.metrics.recordCheck(target.service, check);
    const after = instanceStatus(sample);
    if (before !== after) {
      const failed = result.checks.find((check) => check.outcome !== "success");
      this.options.logger.info(
        {
          // `target`, not `service`: every log line's `service` already names the monitor.
          target: target.service,
          instance: target.instance,
          from: before,
          to: after,
          ...(failed === undefined ? {} : { check: failed.kind, error: failed.error }),
        },
        "target state changed",
      );
    }
    return { sample, result };
  }

  private current(): TargetState[] {
    return [...this.states.values()]
      .filter((state) => state.current)
      .sort((a, b) => a.target.id.localeCompare(b.target.id));
  }

  private serviceCounts(): Map<string, InstanceCounts> {
    const statuses = new Map<string, InstanceStatus[]>();
    for (const state of this.current()) {
      const list = statuses.get(state.target.service) ?? [];
      list.push(instanceStatus(state.history.latest()));
      statuses.set(state.target.service, list);
    }
    return new Map([...statuses].map(([service, list]) => [service, countInstances(list)]));
  }

  /**
   * Drops retired targets with no history left (and the oldest retired past
   * `MAX_RETIRED_TARGETS`), and the series of services gone entirely.
   */
  private collectGarbage(): void {
    const before = new Set([...this.states.values()].map((state) => state.target.service));
    const retired: [string, TargetState][] = [];
    for (const [id, state] of this.states) {
      if (state.current || state.inFlight !== undefined) continue;
      if (state.history.size === 0) this.states.delete(id);
      else retired.push([id, state]);
    }
    if (retired.length > MAX_RETIRED_TARGETS) {
      retired.sort(([, a], [, b]) => (a.retiredAt ?? 0) - (b.retiredAt ?? 0));
      const dropped = retired.slice(0, retired.length - MAX_RETIRED_TARGETS);
      for (const [id] of dropped) this.states.delete(id);
      this.options.logger.warn(
        { dropped: dropped.length, kept: MAX_RETIRED_TARGETS },
        "more instances left than the monitor keeps the history of; the oldest ones are forgotten",
      );
    }
    const after = new Set([...this.states.values()].map((state) => state.target.service));
    for (const service of before) if (!after.has(service)) this.metrics.forgetService(service);
  }
}
