import { Counter, Gauge, Registry } from 'prom-client';

import { EventLog } from '../events/event-log';
import { LiveSync, RESYNC_REASONS } from '../events/live-sync';
import { TableMode } from '../events/options';
import { SnapshotSource } from './snapshot';

/**
 * The exporter's own view of how it reads the table: the mode in use, and
 * in events mode, the events received, the overflows and the re-reads.
 */
export function registerEventMetrics(
  registry: Registry,
  source: SnapshotSource,
  mode: TableMode,
  live?: LiveSync,
  eventLog?: EventLog,
): void {
  new Gauge({
    name: 'conntrack_exporter_table_mode',
    help: 'How the conntrack table is read: "events" (kept current from events) or "dump" (read at every scrape).',
    labelNames: ['mode'],
    registers: [registry],
    collect() {
      this.reset();
      // A failed event stream leaves the exporter reading the table at every scrape.
      this.set({ mode: live?.failed === undefined ? mode : 'dump' }, 1);
    },
  });
  if (live === undefined) return;
  const { stats } = live;
  new Counter({
    name: 'conntrack_exporter_events_total',
    help: 'Conntrack events received for TCP entries, by type (new, update, destroy).',
    labelNames: ['type'],
    registers: [registry],
    async collect() {
      await source.get();
      this.reset();
      for (const [type, count] of Object.entries(stats.events)) this.inc({ type }, count);
    },
  });
  new Counter({
    name: 'conntrack_exporter_event_overflows_total',
    help: 'Times the kernel dropped conntrack events because the receive buffer was full (each one repaired by a re-read).',
    registers: [registry],
    async collect() {
      await source.get();
      this.reset();
      this.inc(stats.overflows);
    },
  });
  new Counter({
    name: 'conntrack_exporter_resyncs_total',
    help: 'Full re-reads of the conntrack table in events mode, by reason: start, overflow, interval, addresses (local addresses changed), silent_entries (entries that send no events), events_on (net.netfilter.nf_conntrack_events set back from 0).',
    labelNames: ['reason'],
    registers: [registry],
    async collect() {
      await source.get();
      this.reset();
      for (const reason of RESYNC_REASONS) this.inc({ reason }, stats.resyncs[reason]);
    },
  });
  new Counter({
    name: 'conntrack_exporter_silent_entry_lookups_total',
    help: 'Entries that send no events (nf_conntrack_events=2, opened before the exporter) looked up one by one at scrapes instead of a re-read of the table.',
    registers: [registry],
    async collect() {
      await source.get();
      this.reset();
      this.inc(stats.silentLookups.entries);
    },
  });
  new Gauge({
    name: 'conntrack_exporter_silent_entries',
    help: 'Entries in the live table that send no events (nf_conntrack_events=2, opened before the exporter), checked at each scrape until they end.',
    registers: [registry],
    async collect() {
      await source.get();
      this.set(live.table.silentEntries);
    },
  });
  new Gauge({
    name: 'conntrack_exporter_live_table_entries',
    help: 'TCP entries held in the live table, including those the connection metrics leave out.',
    registers: [registry],
    async collect() {
      await source.get();
      this.set(live.table.size);
    },
  });
  if (eventLog === undefined) return;
  new Counter({
    name: 'conntrack_exporter_event_log_dropped_lines_total',
    help: 'Event log lines not written because stdout was not read fast enough or was closed.',
    registers: [registry],
    async collect() {
      this.reset();
      this.inc(eventLog.dropped);
    },
  });
}
