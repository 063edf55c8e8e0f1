/**
 * Bounded probe history of one target: a ring buffer of samples, sized from the retention and
 * the probe interval, that also drops samples by age.
 *
 * Memory stays flat however long the monitor runs: a history never holds more than `capacity`
 * samples, stored column-wise in typed arrays (17 bytes a sample) that grow by doubling up to
 * `capacity` and never beyond, and samples older than the retention are pruned on every probe
 * round (see `Monitor.tick`).
 */

/** One probe round of one target. */
export interface Sample {
  /** Wall-clock time the round started (ms since the epoch). */
  readonly at: number;
  /** Whether every check of the round passed. */
  readonly up: boolean;
  /** Latency of the round's main check in ms (see `probes.ts`); meaningful only when `up`. */
  readonly latencyMs: number;
}

/** Arrays start this small and double, so a short retention never allocates much. */
const INITIAL_ALLOCATION = 64;

/**
 * Samples a history must hold for `retentionMs` of probes every `intervalMs`: the samples
 * younger than the retention (`ceil(retention / interval)`), plus one for timer jitter, which can
 * place two rounds slightly less than an interval apart.
 */
export function historyCapacity(retentionMs: number, intervalMs: number): number {
  return Math.ceil(retentionMs / intervalMs) + 1;
}

/** The samples of one target, oldest first, bounded by count and by age. */
export class SampleHistory {
  /** Most samples ever held. */
  readonly capacity: number;
  /** Samples at or before `now - retentionMs` are pruned. */
  readonly retentionMs: number;
  private at: Float64Array;
  private latency: Float64Array;
  private up: Uint8Array;
  /** Index of the oldest sample. */
  private head = 0;
  private count = 0;

  constructor(capacity: number, retentionMs: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`capacity ${capacity} must be >= 1`);
    this.capacity = capacity;
    this.retentionMs = retentionMs;
    const initial = Math.min(capacity, INITIAL_ALLOCATION);
    this.at = new Float64Array(initial);
    this.latency = new Float64Array(initial);
    this.up = new Uint8Array(initial);
  }

  /** Samples held. */
  get size(): number {
    return this.count;
  }

  /** Samples the arrays have room for (grows by doubling, never beyond `capacity`). */
  get allocated(): number {
    return this.at.length;
  }

  /** Appends a sample; when full, the oldest sample is overwritten. */
  push(sample: Sample): void {
    if (this.count === this.at.length && this.at.length < this.capacity) this.grow();
    const slot = (this.head + this.count) % this.at.length;
    this.at[slot] = sample.at;
    this.latency[slot] = sample.latencyMs;
    this.up[slot] = sample.up ? 1 : 0;
    if (this.count < this.at.length) this.count++;
    else this.head = (this.head + 1) % this.at.length;
  }

  /** Drops samples taken at or before `now - retentionMs`; returns how many were dropped. */
  prune(now: number): number {
    const cutoff = now - this.retentionMs;
    let dropped = 0;
    while (this.count > 0 && (this.at[this.head] ?? 0) <= cutoff) {
      this.head = (this.head + 1) % this.at.length;
      this.count--;
      dropped++;
    }
    if (this.count === 0) this.head = 0;
    return dropped;
  }

  /** Samples with `from < at <= to`, oldest first. */
  between(from: number, to: number): Sample[] {
    const out: Sample[] = [];
    for (let i = 0; i < this.count; i++) {
      const sample = this.get(i);
      if (sample.at > from && sample.at <= to) out.push(sample);
    }
    return out;
  }

  /** The last `n` samples (fewer when fewer are held), oldest first. */
  last(n: number): Sample[] {
    const out: Sample[] = [];
    for (let i = Math.max(0, this.count - n); i < this.count; i++) out.push(this.get(i));
    return out;
  }

  /** The newest sample, if any. */
  latest(): Sample | undefined {
    return this.count === 0 ? undefined : this.get(this.count - 1);
  }

  /** The `i`-th sample from the oldest (0 ≤ i < size). */
  private get(i: number): Sample {
    const slot = (this.head + i) % this.at.length;
    return { at: this.at[slot] ?? 0, up: this.up[slot] === 1, latencyMs: this.latency[slot] ?? 0 };
  }

  /** Doubles the arrays (up to `capacity`), laying the samples out oldest first from index 0. */
  private grow(): void {
    const size = Math.min(this.capacity, this.at.length * 2);
    const at = new Float64Array(size);
    const latency = new Float64Array(size);
    const up = new Uint8Array(size);
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head + i) % this.at.length;
      at[i] = this.at[slot] ?? 0;
      latency[i] = this.latency[slot] ?? 0;
      up[i] = this.up[slot] ?? 0;
    }
    this.at = at;
    this.latency = latency;
    this.up = up;
    this.head = 0;
  }
}
