/**
 * Trend figures over a window of samples, as `/service/:name/trend` serves them. Pure.
 *
 * Definitions (the dashboard and its tests rely on them exactly):
 * - The window is the half-open interval `(to - minutes, to]`; a sample counts when its `at`
 *   falls inside it. A service's samples are those of every one of its instances.
 * - availability % = up samples / samples × 100, rounded to 2 decimals; `null` with no samples.
 * - p50 and p95 are taken over the latencies of up samples only (a down sample's latency says
 *   how long a failure took, not how fast the service is), by the nearest-rank method: the
 *   p-th percentile of n sorted values is the value at rank ⌈p/100 × n⌉, so it is always a
 *   latency that was measured. Rounded to 2 decimals; `null` with no up samples.
 * - The series splits the window into `SERIES_POINTS` equal buckets; bucket i covers
 *   `(from + i·w, from + (i+1)·w]` and carries the same figures over its own samples.
 */
import type { Sample } from "./history";

/** Buckets in a trend's series: enough for a readable chart, few enough to stay light. */
export const SERIES_POINTS = 30;

/** p50/p95 latency in ms. */
export interface LatencyFigures {
  readonly p50: number;
  readonly p95: number;
}

/** Availability and latency over a set of samples. */
export interface TrendFigures {
  readonly samples: number;
  readonly upSamples: number;
  readonly availabilityPercent: number | null;
  readonly latencyMs: LatencyFigures | null;
}

/** One bucket of a series. */
export interface SeriesPoint extends TrendFigures {
  /** End of the bucket (inclusive), ISO 8601. */
  readonly at: string;
}

/** `/service/:name/trend`'s body. */
export interface ServiceTrend extends TrendFigures {
  readonly service: string;
  readonly minutes: number;
  /** Window start (exclusive), ISO 8601. */
  readonly from: string;
  /** Window end (inclusive), ISO 8601. */
  readonly to: string;
  readonly series: readonly SeriesPoint[];
}

/** Rounds to 2 decimals, the precision every figure is served with. */
export function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

/** Nearest-rank percentile of values sorted ascending; `undefined` for no values. */
export function percentile(sortedAscending: readonly number[], p: number): number | undefined {
  if (sortedAscending.length === 0) return undefined;
  const rank = Math.max(1, Math.ceil((p / 100) * sortedAscending.length));
  return sortedAscending[rank - 1];
}

/** Availability and p50/p95 latency of `samples`. */
export function figures(samples: readonly Sample[]): TrendFigures {
  const latencies = samples
    .filter((sample) => sample.up)
    .map((sample) => sample.latencyMs)
    .sort((a, b) => a - b);
  const p50 = percentile(latencies, 50);
  const p95 = percentile(latencies, 95);
  return {
    samples: samples.length,
    upSamples: latencies.length,
    availabilityPercent: samples.length === 0 ? null : round2((latencies.length / samples.length) * 100),
    latencyMs: p50 === undefined || p95 === undefined ? null : { p50: round2(p50), p95: round2(p95) },
  };
}

/** Splits `(from, to]` into `points` buckets and computes each one's figures. */
export function series(
  samples: readonly Sample[],
  from: number,
  to: number,
  points: number = SERIES_POINTS,
): SeriesPoint[] {
  const width = (to - from) / points;
  const buckets: Sample[][] = Array.from({ length: points }, () => []);
  for (const sample of samples) {
    if (sample.at <= from || sample.at > to) continue;
    const index = Math.min(points - 1, Math.ceil((sample.at - from) / width) - 1);
    buckets[index]?.push(sample);
  }
  return buckets.map((bucket, index) => ({
    at: new Date(from + (index + 1) * width).toISOString(),
    ...figures(bucket),
  }));
}

/** The trend of `service` over the `minutes` ending at `to`, from all its instances' samples. */
export function serviceTrend(
  service: string,
  samples: readonly Sample[],
  minutes: number,
  to: number,
): ServiceTrend {
  const from = to - minutes * 60_000;
  const inWindow = samples.filter((sample) => sample.at > from && sample.at <= to);
  return {
    service,
    minutes,
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    ...figures(inWindow),
    series: series(inWindow, from, to),
  };
}
