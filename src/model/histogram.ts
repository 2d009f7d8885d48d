import { GroupLabels } from './group';
import { DEFAULT_COUNTER_RETENTION_MS, PerHostCounters } from './per-host-counters';

/** The kinds of a histogram's counters: one per bucket (not cumulative), then +Inf, sum, count. */
export type HistogramKind = string;

/** The kind each bucket counts in, in the order of `buckets`, then +Inf: the `le` label values. */
export function bucketKinds(buckets: readonly number[]): HistogramKind[] {
  return [...buckets.map((bound) => `${bound}`), '+Inf'];
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

  observe(labels: GroupLabels, value: number): void {
    let bucket = 0;
    while (bucket < this.buckets.length && value > this.buckets[bucket]!) bucket++;
    this.counters.add(labels, this.bucketKinds[bucket]!);
    this.counters.add(labels, 'sum', value);
    this.counters.add(labels, 'count');
  }
}
