/**
 * The monitor's own Prometheus series, registered on the app's registry (the shared kit's
 * `createMetrics`, served at `/metrics`).
 *
 * Labels are bounded: the probed service's *name*, the check kind and outcome (three values
 * each), an instance status (three values). Never an instance address, ID or URL: instances
 * churn with every deploy, and a label per instance would grow the series without end. When a
 * service leaves the catalog and its history has aged out, its series are removed too.
 *
 * Note: the registry's default label `service="network-monitor"` names the monitor on the
 * kit's series; on these series `service` is the probed service, which prom-client lets win.
 */
import { Counter, Gauge, Histogram } from "prom-client";
import type { Registry } from "prom-client";
import type { CheckResult } from "./checks";
import { CHECK_KINDS, CHECK_OUTCOMES } from "./checks";
import type { InstanceCounts } from "./state";
import { INSTANCE_STATUSES } from "./state";

/** Probe duration buckets in seconds: loopback answers up to the longest timeout. */
export const PROBE_DURATION_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** What the gauges read at scrape time: each current service's instance counts. */
export type ServiceCountsSource = () => ReadonlyMap<string, InstanceCounts>;

/** The monitor's series. */
export class MonitorMetrics {
  private readonly probes: Counter<"service" | "kind" | "outcome">;
  private readonly duration: Histogram<"service" | "kind">;
  private readonly overruns: Counter<"service">;

  constructor(registry: Registry, counts: ServiceCountsSource) {
    this.probes = new Counter({
      name: "monitor_probe_total",
      help: "Checks run by the network monitor, by probed service, check kind (tcp, http, mcp) and outcome.",
      labelNames: ["service", "kind", "outcome"],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: "monitor_probe_duration_seconds",
      help: "Duration of the network monitor's checks in seconds, by probed service and check kind.",
      labelNames: ["service", "kind"],
      buckets: [...PROBE_DURATION_BUCKETS],
      registers: [registry],
    });
    this.overruns = new Counter({
      name: "monitor_probe_overruns_total",
      help: "Probe rounds skipped because the previous probe of the same instance was still running.",
      labelNames: ["service"],
      registers: [registry],
    });
    new Gauge({
      name: "monitor_target_up",
      help: "1 when at least one instance of the service passed its last probe, else 0.",
      labelNames: ["service"],
      registers: [registry],
      collect() {
        this.reset();
        for (const [service, c] of counts()) this.set({ service }, c.up > 0 ? 1 : 0);
      },
    });
    new Gauge({
      name: "monitor_instances",
      help: "Instances of each probed service by status of their last probe (up, down, unknown).",
      labelNames: ["service", "status"],
      registers: [registry],
      collect() {
        this.reset();
        for (const [service, c] of counts()) {
          for (const status of INSTANCE_STATUSES) this.set({ service, status }, c[status]);
        }
      },
    });
  }

  /** Counts and times one check. */
  recordCheck(service: string, check: CheckResult): void {
    this.probes.inc({ service, kind: check.kind, outcome: check.outcome });
    this.duration.observe({ service, kind: check.kind }, check.durationMs / 1000);
  }

  /** Counts a round skipped because the instance's previous probe was still running. */
  recordOverrun(service: string): void {
    this.overruns.inc({ service });
  }

  /** Removes every series of a service that is gone for good. */
  forgetService(service: string): void {
    this.overruns.remove({ service });
    for (const kind of CHECK_KINDS) {
      this.duration.remove({ service, kind });
      for (const outcome of CHECK_OUTCOMES) this.probes.remove({ service, kind, outcome });
    }
  }
}
