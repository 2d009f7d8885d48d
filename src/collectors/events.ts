import { Registry } from 'prom-client';

import { RESYNC_REASONS } from '../events/live-sync';
import { TableMode } from '../options/table-reading-config';
import { ScrapeReader } from './scrape';
import { scrapeCounter, scrapeGauge } from './scrape-time';

/**
 * The exporter's own view of how it reads the table: the mode in use, and
 * in events mode, the events received, the overflows and the re-reads, as
 * of each scrape's read of the table.
 */
export function registerEventMetrics(
  registry: Registry,
  source: ScrapeReader<'events'>,
  mode: TableMode,
  logEvents = false,
): void {
  const figures = async () => (await source.get()).events;
  scrapeGauge(
    registry,
    {
      name: 'conntrack_exporter_table_mode',
      help: 'How the conntrack table is read: "events" (kept current from events) or "dump" (read at every scrape).',
      labelNames: ['mode'],
    },
    // A failed event stream leaves the exporter reading the table at every scrape.
    async () => [[{ mode: (await figures())?.failed ? 'dump' : mode }, 1]],
    { reset: true },
  );
  if (mode !== 'events') return;
  scrapeCounter(
    registry,
    {
      name: 'conntrack_exporter_events_total',
      help: 'Conntrack events received for TCP entries, by type (new, update, destroy).',
      labelNames: ['type'],
    },
    async () => {
      const stats = (await figures())?.stats;
      if (stats === undefined) return [];
      return Object.entries(stats.events).map(([type, count]) => [{ type }, count] as const);
    },
  );
  scrapeCounter(
    registry,
    {
      name: 'conntrack_exporter_event_overflows_total',
      help: 'Times the kernel dropped conntrack events because the receive buffer was full (each one repaired by a re-read).',
    },
    async () => (await figures())?.stats.overflows ?? 0,
  );
  scrapeCounter(
    registry,
    {
      name: 'conntrack_exporter_resyncs_total',
      help: 'Full re-reads of the conntrack table in events mode, by reason: start, overflow, interval, addresses (local addresses changed), silent_entries (looking up entries that send no events failed), events_on (net.netfilter.nf_conntrack_events set back from 0).',
      labelNames: ['reason'],
    },
    async () => {
      const resyncs = (await figures())?.stats.resyncs;
      return RESYNC_REASONS.map((reason) => [{ reason }, resyncs?.[reason] ?? 0] as const);
    },
  );
  scrapeCounter(
    registry,
    {
      name: 'conntrack_exporter_silent_entry_lookups_total',
      help: 'Lookups of entries that send no events (nf_conntrack_events=2, opened before the exporter), made in the background, each entry at least once per --silent-check-interval.',
    },
    async () => (await figures())?.stats.silentLookups.entries ?? 0,
  );
  scrapeCounter(
    registry,
    {
      name: 'conntrack_exporter_expired_entry_lookups_total',
      help: 'Lookups of entries whose timeout ran out with no event since (the kernel reaps those at the lookup and sends their DESTROY event, instead of up to a minute later), by result: gone, or renewed (packets had renewed the timeout).',
      labelNames: ['result'],
    },
    async () => {
      const lookups = (await figures())?.stats.expiryLookups;
      const gone = lookups?.gone ?? 0;
      return [
        [{ result: 'gone' }, gone],
        [{ result: 'renewed' }, (lookups?.entries ?? 0) - gone],
      ] as const;
    },
  );
  scrapeGauge(
    registry,
    {
      name: 'conntrack_exporter_silent_entries',
      help: 'Entries in the live table that send no events (nf_conntrack_events=2, opened before the exporter), looked up in the background until they end or send events.',
    },
    async () => (await figures())?.silentEntries,
  );
  scrapeGauge(
    registry,
    {
      name: 'conntrack_exporter_live_table_entries',
      help: 'TCP entries held in the live table, including those the connection metrics leave out.',
    },
    async () => (await figures())?.liveEntries,
  );
  if (!logEvents) return;
  scrapeCounter(
    registry,
    {
      name: 'conntrack_exporter_event_log_dropped_lines_total',
      help: 'Event log lines not written because stdout was not read fast enough or was closed.',
    },
    async () => (await figures())?.logDroppedLines ?? 0,
  );
}
