/**
 * The shapes `/api/services` serves, built from targets and their histories. Pure; statuses come
 * from `state.ts`.
 */
import type { CheckResult } from "./checks";
import type { ConsulStatus } from "./consul-catalog";
import type { SampleHistory } from "./history";
import type { ProbeResult } from "./probes";
import type { InstanceCounts, InstanceStatus, ServiceStatus } from "./state";
import { countInstances, FLAP_WINDOW, instanceStatus, isFlapping, serviceStatus } from "./state";
import type { Target, TargetSource } from "./targets";
import { round2 } from "./trend";

/** One instance in `/api/services`. */
export interface InstanceView {
  readonly id: string;
  readonly endpoint: string;
  readonly source: TargetSource;
  readonly status: InstanceStatus;
  readonly flapping: boolean;
  /** Consul's own check status; `null` for static targets. */
  readonly consulStatus: ConsulStatus | null;
  /** Start of the last finished probe round, ISO 8601. */
  readonly lastProbeAt: string | null;
  /** Latency of the last round when it was up. */
  readonly latencyMs: number | null;
  /** The last round's checks. */
  readonly checks: readonly CheckResult[];
}

/** One service in `/api/services`. */
export interface ServiceView {
  readonly name: string;
  readonly status: ServiceStatus;
  readonly flapping: boolean;
  readonly counts: InstanceCounts;
  readonly instances: readonly InstanceView[];
}

/** `/api/services`'s body. */
export interface ServicesView {
  readonly generatedAt: string;
  readonly intervalMs: number;
  readonly retentionMinutes: number;
  /** Services by status. */
  readonly summary: Readonly<Record<ServiceStatus, number>>;
  readonly services: readonly ServiceView[];
}

/** The last finished round of a target. */
export interface LastRound {
  readonly at: number;
  readonly result: ProbeResult;
}

/** An instance's view from its target, history and last round. */
export function instanceView(
  target: Target,
  history: SampleHistory,
  last: LastRound | undefined,
): InstanceView {
  return {
    id: target.instance,
    endpoint: target.endpoint,
    source: target.source,
    status: instanceStatus(history.latest()),
    flapping: isFlapping(history.last(FLAP_WINDOW)),
    consulStatus: target.consulStatus ?? null,
    lastProbeAt: last === undefined ? null : new Date(last.at).toISOString(),
    latencyMs: last?.result.up === true ? round2(last.result.latencyMs) : null,
    checks: (last?.result.checks ?? []).map((check) => ({ ...check, durationMs: round2(check.durationMs) })),
  };
}

/** A service's view from its instances'. */
export function serviceView(name: string, instances: readonly InstanceView[]): ServiceView {
  const counts = countInstances(instances.map((instance) => instance.status));
  return {
    name,
    status: serviceStatus(counts),
    flapping: instances.some((instance) => instance.flapping),
    counts,
    instances,
  };
}

/** The whole `/api/services` body. */
export function servicesView(
  services: readonly ServiceView[],
  settings: { readonly now: number; readonly intervalMs: number; readonly retentionMinutes: number },
): ServicesView {
  const summary: Record<ServiceStatus, number> = { up: 0, degraded: 0, down: 0, unknown: 0 };
  for (const service of services) summary[service.status]++;
  return {
    generatedAt: new Date(settings.now).toISOString(),
    intervalMs: settings.intervalMs,
    retentionMinutes: settings.retentionMinutes,
    summary,
    services,
  };
}
