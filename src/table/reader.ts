import { ConntrackError } from '../conntrack';
import { explainReadError } from '../conntrack/explain';
import { TableUsage } from '../conntrack/table-usage';
import type { EventStats } from '../events/live-sync';
import { Logger } from '../log';
import { HostGroup } from '../model/group';
import { HistogramKind } from '../model/histogram';
import { FailureReason, LifetimeKind } from '../model/link-health';
import { LifecycleKind } from '../model/live-table';
import { LongtermCounts } from '../model/longterm';
import { CounterSeries, PerHostCounters } from '../model/per-host-counters';
import { TrafficKind } from '../model/traffic';

/** Events mode's own figures, as they were when the table was read. */
export interface EventsFigures {
  /** The event stream failed: the table was read whole for this snapshot. */
  failed: boolean;
  stats: EventStats;
  /** TCP entries held in the live table, counted or left out. */
  liveEntries: number;
  /** Entries known only from a read of the table, which may never send an event. */
  silentEntries: number;
  /** Lines the event log dropped; undefined without --log-events. */
  logDroppedLines?: number;
}

/**
 * The per-host counters, by family: counted as events come (and, for
 * traffic, as the table is read), folded into the scrape's series by the
 * scrape (see PerHostCounters).
 */
export interface CounterFamilies {
  /** conntrack_connections_{opened,closed}_total; events mode only. */
  lifecycle?: PerHostCounters<LifecycleKind>;
  /** conntrack_{sent,received}_{bytes,packets}_total, with --collector.traffic. */
  traffic?: PerHostCounters<TrafficKind>;
  /** The link health families (--collector.link-health); see LinkHealth. */
  failures?: PerHostCounters<FailureReason>;
  lifetimes?: PerHostCounters<LifetimeKind>;
  connectTimes?: PerHostCounters<HistogramKind>;
  lifetimesByPort?: PerHostCounters<HistogramKind>;
}

/** Each family's series to export at one scrape. */
export type CounterRows = {
  [F in keyof CounterFamilies]: CounterFamilies[F] extends PerHostCounters<infer K> | undefined
    ? readonly CounterSeries<K>[]
    : never;
};

/**
 * What one read of the conntrack table found: everything a scrape reports
 * of the table, whichever way it was read. Collectors read only this.
 */
export interface Snapshot {
  /** Connection counts per remote host, port and direction; undefined when the read failed. */
  groups?: readonly HostGroup[];
  error?: Error;
  /** nf_conntrack_count and _max; undefined when /proc does not tell them. */
  table?: TableUsage;
  /** Long-lived inbound connections, when that metric is on. */
  longterm?: LongtermCounts;
  /** The per-host counter families that are on. */
  counters?: CounterFamilies;
  /** Events mode only. */
  events?: EventsFigures;
  /** How long the read and aggregation took. */
  durationSeconds: number;
}

/** A way of reading the table: a dump at every scrape, or the live table kept from events. */
export interface TableReader {
  /** Never rejects: a failed read is a snapshot with `error` (and no groups). */
  read(): Promise<Snapshot>;
}

/**
 * Runs one read, timed; a failure is logged with what to do about it and
 * becomes a snapshot with `error`.
 */
export async function timedRead(
  log: Logger,
  read: () => Promise<Omit<Snapshot, 'durationSeconds'>>,
): Promise<Snapshot> {
  const started = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
  try {
    const snapshot = await read();
    return { ...snapshot, durationSeconds: elapsed() };
  } catch (error) {
    log.error(explainReadError(error as ConntrackError));
    return { error: error as Error, durationSeconds: elapsed() };
  }
}
