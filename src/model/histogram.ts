import { GroupLabels } from './group';
import { DEFAULT_COUNTER_RETENTION_MS, PerHostCounters } from './per-host-counters';

/** The kinds of a histogram's counters: one per bucket (not cumulative), then +Inf, sum, count. */
export type HistogramKind = string;

/**
 * The kind each bucket counts in, in the order of `buckets`, then +Inf.
 * Names, not the bounds themselves: "1" or "60" would be array indices,
 * which make the counters' objects slower to make and read.
 */
export function bucketKinds(buckets: readonly number[]): HistogramKind[] {
  return [...buckets.map((_, index) => `b${index}`), 'inf'];
}

/** The `le` label of each bucket, in the order of bucketKinds. */
export function bucketBounds(buckets: readonly number[]): string[] {
  return [...buckets.map((bound) => `${bound}`), '+Inf'];
}

/** The bucket of `value`: the first bound it does not exceed, or buckets.length for +Inf. */
export function bucketOf(buckets: readonly number[], value: number): number {
  let bucket = 0;
  while (bucket < buckets.length && value > buckets[bucket]!) bucket++;
  return bucket;
}

/**
 * A Prometheus histogram per port and direction, kept as per-host counters
 * folded by port (see SeriesMapping.byPort): so it has the bound and the
 * retention of the other counters, and each series only grows.
 */
export class Histogram {
  readonly counters: PerHostCounters<HistogramKind>;
  /** The kind each bucket counts in, in the order of `buckets`, then +Inf. */
  readonly bucketKinds: readonly HistogramKind[];

  constructor(
    readonly buckets: readonly number[],
    retentionMs = DEFAULT_COUNTER_RETENTION_MS,
    now: () => number = Date.now,
  ) {
    this.bucketKinds = bucketKinds(buckets);
    this.counters = new PerHostCounters(
      [...this.bucketKinds, 'sum', 'count'],
      retentionMs,
      now,
      true,
    );
  }

  /**
   * Adds observations of the raw group `labels`, already counted per bucket
   * (in the order of `buckets`, then +Inf; see bucketOf), with their sum.
   */
  add(labels: GroupLabels, perBucket: readonly number[], sum: number): void {
    // Every kind is there: PerHostCounters starts each at 0.
    const values = this.counters.pendingOf(labels);
    let count = 0;
    for (let i = 0; i < perBucket.length; i++) {
      const kind = this.bucketKinds[i]!;
      values[kind] = values[kind]! + perBucket[i]!;
      count += perBucket[i]!;
    }
    values.sum = values.sum! + sum;
    values.count = values.count! + count;
  }
}
