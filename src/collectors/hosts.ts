import { Counter, Gauge, Registry } from 'prom-client';

import { DnsCache, FAILURE_REASONS } from '../model/dns-cache';
import { SeriesSource } from './series-source';

/**
 * The exporter's own view of host labels: how many hosts the bound folded
 * into host="other", and how reverse DNS is doing (only when it is on).
 */
export function registerHostMetrics(
  registry: Registry,
  source: SeriesSource,
  names: DnsCache | undefined,
): void {
  new Gauge({
    name: 'conntrack_exporter_hosts_folded',
    help: 'Remote hosts (or networks) beyond --max-hosts, counted in host="other" instead of a series of their own.',
    registers: [registry],
    async collect() {
      const { foldedHosts } = await source.get();
      if (foldedHosts !== undefined) this.set(foldedHosts);
    },
  });
  if (names === undefined) return;
  const { stats } = names;
  // Each reads the stats after this scrape's lookups, so they match its series.
  const counter = (name: string, help: string, value: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      async collect() {
        await source.get();
        this.reset();
        this.inc(value());
      },
    });
  counter(
    'conntrack_exporter_dns_lookups_total',
    'Reverse DNS lookups started.',
    () => stats.lookups,
  );
  counter(
    'conntrack_exporter_dns_cache_hits_total',
    'Remote addresses named (or known to have no name) from the cache, without a lookup.',
    () => stats.hits,
  );
  new Counter({
    name: 'conntrack_exporter_dns_failures_total',
    help: 'Reverse DNS lookups that gave no name: not_found (NXDOMAIN, no PTR record), timeout, error (anything else).',
    labelNames: ['reason'],
    registers: [registry],
    async collect() {
      await source.get();
      this.reset();
      for (const reason of FAILURE_REASONS) this.inc({ reason }, stats.failures[reason]);
    },
  });
  new Gauge({
    name: 'conntrack_exporter_dns_cache_entries',
    help: 'Remote addresses held in the reverse DNS cache, with a name or without.',
    registers: [registry],
    async collect() {
      await source.get();
      this.set(names.size);
    },
  });
}
