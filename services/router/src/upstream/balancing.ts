/**
 * The pure decisions of routing: which instance takes the next request (least outstanding
 * requests), and when a failing instance is ejected and let back in (passive health checking).
 */

/** What the picker needs to know about a candidate. */
export interface Candidate {
  /** Requests this replica has in flight on the instance. */
  readonly outstanding: number;
}

/**
 * Index of the candidate with the fewest outstanding requests. Ties go to the first one at or
 * after `rotation` (modulo the length), so equally loaded instances take turns instead of the
 * first one taking every request of a sequential client. -1 when there is no candidate.
 */
export function pickLeastOutstanding(candidates: readonly Candidate[], rotation: number): number {
  const count = candidates.length;
  let best = -1;
  let bestLoad = Number.POSITIVE_INFINITY;
  for (let step = 0; step < count; step++) {
    const index = (((rotation + step) % count) + count) % count;
    const load = candidates[index]?.outstanding ?? Number.POSITIVE_INFINITY;
    if (load < bestLoad) {
      best = index;
      bestLoad = load;
    }
  }
  return best;
}

/** When instances are ejected and for how long. */
export interface EjectionPolicy {
  /** Consecutive transport failures that eject an instance. */
  readonly failuresToEject: number;
  /** First ejection period. */
  readonly baseMs: number;
  /** Longest ejection period; each failed probe doubles the period up to this. */
  readonly maxMs: number;
}

/** Where an instance stands. */
export type HealthState = "healthy" | "ejected";

/**
 * The passive health of one instance. Transport failures (the instance refused the connection,
 * answered 5xx, or lost the stream) count; answers of any kind, tool errors included, reset the
 * count. After `failuresToEject` in a row the instance is ejected: it takes no requests until a
 * probe succeeds. The probe is due `period` after the ejection; every failed probe doubles the
 * period, up to `maxMs`.
 */
export class InstanceHealth {
  private failures = 0;
  private ejections = 0;
  private state: HealthState = "healthy";
  private until = 0;

  constructor(private readonly policy: EjectionPolicy) {}

  /** `healthy` or `ejected`. */
  get current(): HealthState {
    return this.state;
  }

  /** Consecutive transport failures so far. */
  get consecutiveFailures(): number {
    return this.failures;
  }

  /** When the next probe is due (ms since the epoch); 0 while healthy. */
  get probeAt(): number {
    return this.state === "ejected" ? this.until : 0;
  }

  /** Records an answer; true when this lets an ejected instance back in. */
  recordSuccess(): boolean {
    this.failures = 0;
    if (this.state === "healthy") return false;
    this.state = "healthy";
    this.ejections = 0;
    this.until = 0;
    return true;
  }

  /**
   * Records a transport failure at `now`; true when this ejects the instance. Failures of calls
   * still in flight when it was ejected change nothing more.
   */
  recordFailure(now: number): boolean {
    this.failures++;
    if (this.state === "ejected" || this.failures < this.policy.failuresToEject) return false;
    this.eject(now);
    return true;
  }

  /** Records a failed probe at `now`: the instance stays out, for twice as long as before. */
  probeFailed(now: number): void {
    this.failures++;
    this.eject(now);
  }

  private eject(now: number): void {
    this.state = "ejected";
    this.until = now + Math.min(this.policy.maxMs, this.policy.baseMs * 2 ** this.ejections);
    this.ejections++;
  }
}
