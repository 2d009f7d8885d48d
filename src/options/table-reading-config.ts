/**
 * How the exporter reads the kernel's table: the settings of events mode
 * (following the kernel's event stream) and of dump mode, as the rest of
 * the program takes them; the flags that set them are in table-reading.ts.
 */
import { EventLogFormat } from '../model/event-format';

export type TableMode = 'events' | 'dump';
export const TABLE_MODES: readonly TableMode[] = ['events', 'dump'];

/** How the exporter learns what the table holds, and whether it logs events. */
export interface EventsConfig {
  mode: TableMode;
  /** Full re-read of the table in events mode; 0 for never. */
  resyncIntervalMs: number;
  /** Each entry that sends no events is looked up at least this often (default: DEFAULT_SILENT_CHECK_INTERVAL_S). */
  silentCheckIntervalMs?: number;
  netlinkBufferBytes: number;
  /** The event log's format; undefined when events are not logged. */
  logEvents?: EventLogFormat;
  /** Count failures, connect times and lifetimes (--collector.link-health). */
  linkHealth?: boolean;
}

/**
 * The periodic re-read is a safety net only: overflows and new local
 * addresses each cause a re-read of their own at once, and silent entries
 * (nf_conntrack_events=2) are looked up on their own. What is left for it is an event the kernel failed to send
 * without reporting a drop (it could not allocate the message). It costs
 * CPU in proportion to the table (BENCHMARKS.md), so every 10 minutes
 * rather than 5.
 */
export const DEFAULT_RESYNC_INTERVAL_S = 600;

/**
 * Entries that send no events (nf_conntrack_events=2, opened before the
 * exporter) are looked up in the background, each at least this often: the
 * longest an ended one stays in the gauges. A minute keeps 100k of them
 * under half a CPU-second a minute (BENCHMARKS.md), and a scrape interval
 * or four is a delay the counters' users already live with.
 */
export const DEFAULT_SILENT_CHECK_INTERVAL_S = 60;
export const MAX_SILENT_CHECK_INTERVAL_MS = 3_600_000;
