import { Gauge, Registry } from 'prom-client';

import { ScrapeReader } from './scrape';
import { scrapeGauge } from './scrape-time';

export interface BuildInfo {
  version: string;
  libnetfilterConntrack: string;
}

/**
 * The exporter's own health: whether the last read of the table worked and
 * how long it took, how full the kernel's table is, and what is running.
 */
export function registerSelfMetrics(
  registry: Registry,
  source: ScrapeReader<'groups' | 'durationSeconds' | 'table'>,
  build: BuildInfo,
  tableReadable: boolean,
): void {
  scrapeGauge(
    registry,
    {
      name: 'conntrack_exporter_scrape_collector_success',
      help: 'Whether the last read of the conntrack table succeeded (1) or failed (0).',
      labelNames: ['collector'],
    },
    async () => [[{ collector: 'conntrack' }, (await source.get()).groups === undefined ? 0 : 1]],
  );
  scrapeGauge(
    registry,
    {
      name: 'conntrack_exporter_scrape_collector_duration_seconds',
      help: 'How long the last read and aggregation of the conntrack table took.',
      labelNames: ['collector'],
    },
    async () => [[{ collector: 'conntrack' }, (await source.get()).durationSeconds]],
  );
  if (tableReadable) {
    // Registered only when /proc tells the table's size: a 0 would be a lie.
    scrapeGauge(
      registry,
      {
        name: 'conntrack_table_entries',
        help: 'Entries of every protocol in the conntrack table of the watched network namespace (nf_conntrack_count).',
      },
      async () => (await source.get()).table?.entries,
    );
    scrapeGauge(
      registry,
      {
        name: 'conntrack_table_entries_limit',
        help: 'Size of the conntrack table; new flows are dropped when it is full (nf_conntrack_max).',
      },
      async () => (await source.get()).table?.limit,
    );
  }
  const info = new Gauge({
    name: 'conntrack_exporter_build_info',
    help: 'A metric with a constant 1 value labelled by the version of the exporter, Node.js and libnetfilter_conntrack.',
    labelNames: ['version', 'nodejs_version', 'libnetfilter_conntrack_version'],
    registers: [registry],
  });
  info.set(
    {
      version: build.version,
      nodejs_version: process.versions.node,
      libnetfilter_conntrack_version: build.libnetfilterConntrack,
    },
    1,
  );
}
