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
  netlinkBufferBytes: number;
  /** The event log's format; undefined when events are not logged. */
  logEvents?: EventLogFormat;
  /** Count failures, connect times and lifetimes (--collector.link-health). */
  linkHealth?: boolean;
}

/**
 * The periodic re-read is a safety net only: overflows, new local addresses
 * and silent entries (nf_conntrack_events=2) each cause a re-read of their
 * own at once. What is left for it is an event the kernel failed to send
 * without reporting a drop (it could not allocate the message). It costs
 * CPU in proportion to the table (BENCHMARKS.md), so every 10 minutes
 * rather than 5.
 */
export const DEFAULT_RESYNC_INTERVAL_S = 600;
