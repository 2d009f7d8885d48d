import { GroupIndex, GroupLabels } from './group';
import { FoldTarget, SeriesLabels, SeriesMapping } from './series-mapping';

/** One exported series of a counter family: its labels and a value per kind. */
export interface CounterSeries<K extends string> extends SeriesLabels {
  values: Record<K, number>;
}

interface Pending<K extends string> {
  labels: GroupLabels;
  values: Record<K, number>;
}

interface Exported<K extends string> {
  /**
   * As the last scrape was given it, and never changed after: a fold that
   * adds to it puts a new object here. So a scrape may write its rows after
   * the next fold has run, and rows() need not copy every series at every
   * scrape (the most garbage a scrape made).
   */
  series: CounterSeries<K>;
  changedMs: number;
  /** The fold that last changed it. */
  changedIn: number;
}

export const DEFAULT_COUNTER_RETENTION_MS = 3_600_000;

/**
 * Counters per remote host, port and direction that fold like the gauges.
 *
 * Events add to a raw group (the remote address as it is): cheap, and
 * nothing is decided yet. At each scrape, `fold` moves what was added since
 * into the series each group belongs to by that scrape's ranking (see
 * SeriesMapping): its host's label or "other", its port or "other". So an
 * exported series only ever grows, whatever the ranking does; a host that
 * loses its label goes on counting in host="other" while its own series
 * stays as it was; and the sum over exported series is everything counted
 * (but groups left out by name, as the gauges leave them out).
 *
 * A series that receives nothing is kept while the gauges have its label
 * set, else until it has not changed for `retentionMs`; if it comes back
 * later it starts from zero, which Prometheus reads as a counter reset. And
 * a family holds at most the gauges' bound, (N + 1) × (K + 3) series: beyond
 * it, the series that have not changed for longest go first.
 *
 * Between two scrapes, what was added is held per raw group: as many as the
 * groups that changed meanwhile.
 */
export class PerHostCounters<K extends string> {
  private pending = new GroupIndex<Pending<K>>();
  private readonly exported = new GroupIndex<Exported<K>>();
  private count = 0;
  private folds = 0;
  private readonly template: Record<K, number>;

  /** `byPort`: a family labelled by port and direction alone (host ""), see SeriesMapping.byPort. */
  constructor(
    readonly kinds: readonly K[],
    private readonly retentionMs = DEFAULT_COUNTER_RETENTION_MS,
    private readonly now: () => number = Date.now,
    readonly byPort = false,
  ) {
    const template = {} as Record<K, number>;
    for (const kind of kinds) template[kind] = 0;
    this.template = template;
  }

  /** Adds `amount` to the `kind` counter of the raw group `labels`. */
  add(labels: GroupLabels, kind: K, amount = 1): void {
    this.pendingOf(labels)[kind] += amount;
  }

  /**
   * What was added to the raw group `labels` since the last fold, to add to
   * in place: one lookup for several kinds (this runs per event).
   */
  pendingOf(labels: GroupLabels): Record<K, number> {
    let pending = this.pending.get(labels.host, labels.port, labels.direction);
    if (pending === undefined) {
      pending = { labels, values: this.zeros() };
      this.pending.set(labels.host, labels.port, labels.direction, pending);
    }
    return pending.values;
  }

  /** Moves what was added into this scrape's series, and returns every series to export. */
  fold(mapping: SeriesMapping): readonly CounterSeries<K>[] {
    const target = this.byPort ? mapping.byPort : mapping;
    const now = this.now();
    this.folds++;
    const pending = this.pending;
    this.pending = new GroupIndex();
    for (const ports of pending.hostValues()) {
      for (const { labels, values } of ports.values()) {
        const to = target.labelsOf(labels);
        if (to === undefined) continue;
        const exported = this.series(to);
        if (exported.changedIn !== this.folds) {
          // The first change of this fold: the series given to scrapes stays as it was.
          const { series } = exported;
          exported.series = { ...series, values: { ...series.values } };
          exported.changedIn = this.folds;
        }
        for (const kind of this.kinds) exported.series.values[kind] += values[kind];
        exported.changedMs = now;
      }
    }
    this.forget(now, target);
    return this.rows();
  }

  /**
   * Every series to export, as they are (a scrape that could not rank the
   * hosts). Not to be changed: they are the ones the next scrapes get too.
   */
  rows(): readonly CounterSeries<K>[] {
    const rows: CounterSeries<K>[] = [];
    for (const ports of this.exported.hostValues()) {
      for (const { series } of ports.values()) rows.push(series);
    }
    return rows;
  }

  private series(labels: SeriesLabels): Exported<K> {
    let exported = this.exported.get(labels.host, labels.port, labels.direction);
    if (exported === undefined) {
      const { host, port, direction } = labels;
      // Made by this fold and not yet given to any scrape: no copy needed before adding to it.
      exported = {
        series: { host, port, direction, values: this.zeros() },
        changedMs: 0,
        changedIn: this.folds,
      };
      this.exported.set(host, port, direction, exported);
      this.count++;
    }
    return exported;
  }

  private forget(now: number, mapping: FoldTarget): void {
    const oldest = now - this.retentionMs;
    const idle: Exported<K>[] = [];
    this.exported.retain((exported) => {
      if (exported.changedIn === this.folds) return true;
      if (exported.changedMs < oldest && !mapping.has(exported.series)) {
        this.count--;
        return false;
      }
      idle.push(exported);
      return true;
    });
    if (this.count <= mapping.maxSeries) return;
    idle.sort((a, b) => a.changedMs - b.changedMs);
    const drop = new Set(idle.slice(0, this.count - mapping.maxSeries));
    this.exported.retain((exported) => !drop.has(exported));
    this.count -= drop.size;
  }

  private zeros(): Record<K, number> {
    // A copy of one template: objects of one shape, made without a loop.
    return { ...this.template };
  }
}
