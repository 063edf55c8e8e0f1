/**
 * Status derivation: an instance's status from its samples, a service's from its instances'.
 * Pure; `/api/services`, the dashboard colours and the `monitor_*` gauges all use it.
 *
 * - Instance: `unknown` before its first probe, then `up` or `down` as its last probe found it.
 *   It is *flapping* when its last `FLAP_WINDOW` samples change state at least
 *   `FLAP_TRANSITIONS` times (up→down and down→up both count).
 * - Service: `unknown` while no instance has been probed; otherwise `up` when every probed
 *   instance is up, `down` when none is, `degraded` in between. A service is flapping when any
 *   of its instances is.
 */
import type { Sample } from "./history";

/** Status of one instance. */
export type InstanceStatus = "up" | "down" | "unknown";

/** Status of a service; the dashboard colours it green, amber, red and grey. */
export type ServiceStatus = "up" | "degraded" | "down" | "unknown";

/** Every service status, best first. */
export const SERVICE_STATUSES: readonly ServiceStatus[] = ["up", "degraded", "down", "unknown"];

/** Every instance status. */
export const INSTANCE_STATUSES: readonly InstanceStatus[] = ["up", "down", "unknown"];

/** Samples looked at to decide whether an instance flaps. */
export const FLAP_WINDOW = 10;

/** State changes within `FLAP_WINDOW` samples that make an instance flapping. */
export const FLAP_TRANSITIONS = 3;

/** Instances of a service by status. */
export interface InstanceCounts {
  readonly total: number;
  readonly up: number;
  readonly down: number;
  readonly unknown: number;
}

/** An instance's status from its newest sample. */
export function instanceStatus(latest: Sample | undefined): InstanceStatus {
  if (latest === undefined) return "unknown";
  return latest.up ? "up" : "down";
}

/** Number of up↔down changes between consecutive samples. */
export function transitions(samples: readonly Sample[]): number {
  let changes = 0;
  for (let i = 1; i < samples.length; i++) {
    if (samples[i]?.up !== samples[i - 1]?.up) changes++;
  }
  return changes;
}

/** Whether the newest `FLAP_WINDOW` of `recent` samples (oldest first) show a flapping instance. */
export function isFlapping(recent: readonly Sample[]): boolean {
  return transitions(recent.slice(-FLAP_WINDOW)) >= FLAP_TRANSITIONS;
}

/** Counts instances by status. */
export function countInstances(statuses: readonly InstanceStatus[]): InstanceCounts {
  const count = (status: InstanceStatus) => statuses.filter((s) => s === status).length;
  return { total: statuses.length, up: count("up"), down: count("down"), unknown: count("unknown") };
}

/** A service's status from its instances' counts. */
export function serviceStatus(counts: InstanceCounts): ServiceStatus {
  if (counts.up + counts.down === 0) return "unknown";
  if (counts.down === 0) return "up";
  if (counts.up === 0) return "down";
  return "degraded";
}
