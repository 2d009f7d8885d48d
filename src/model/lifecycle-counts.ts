import { GroupLabels, labelsOf } from './group';

/** The per-group counters the table keeps: what happened to its connections. */
export const LIFECYCLE_KINDS = ['opened', 'closed'] as const;

export type LifecycleKind = (typeof LIFECYCLE_KINDS)[number];

/** How many connections of one (remote host, service port, direction) appeared and ended. */
export type LifecycleSeries = GroupLabels & Record<LifecycleKind, number>;

interface Tally {
  series: LifecycleSeries;
  lastChangeMs: number;
}

/**
 * The opened and closed tallies behind conntrack_connections_{opened,closed}_total.
 *
 * They only grow, so they cannot simply follow the table: a tally outlives
 * the last connection of its group, or a connection that came and went
 * between two scrapes would never be seen. It is dropped once its group has
 * no connection and it has not moved for `retentionMs`, which bounds memory
 * on a host that talks to ever new peers; if the group comes back, its
 * series starts again from zero, which Prometheus reads as a counter reset.
 */
export class LifecycleCounts {
  private readonly tallies = new Map<string, Tally>();

  constructor(
    private readonly retentionMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Adds one to the `kind` tally of the group at `key` (groupKey of `labels`). */
  count(kind: LifecycleKind, key: string, labels: GroupLabels): void {
    this.tally(key, labels).series[kind]++;
  }

  /** Every tally to export; first forgets those idle too long whose group `isLive` denies. */
  series(isLive: (key: string) => boolean): LifecycleSeries[] {
    const oldest = this.now() - this.retentionMs;
    const result: LifecycleSeries[] = [];
    for (const [key, tally] of this.tallies) {
      if (tally.lastChangeMs < oldest && !isLive(key)) {
        this.tallies.delete(key);
        continue;
      }
      result.push({ ...tally.series });
    }
    return result;
  }

  private tally(key: string, labels: GroupLabels): Tally {
    let tally = this.tallies.get(key);
    if (tally === undefined) {
      const series = labelsOf(labels) as LifecycleSeries;
      for (const kind of LIFECYCLE_KINDS) series[kind] = 0;
      tally = { series, lastChangeMs: 0 };
      this.tallies.set(key, tally);
    }
    tally.lastChangeMs = this.now();
    return tally;
  }
}
