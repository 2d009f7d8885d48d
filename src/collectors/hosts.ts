import { Registry } from 'prom-client';

import { FAILURE_REASONS } from '../model/dns-cache';
import { ScrapeReader } from './scrape';
import { scrapeCounter, scrapeGauge } from './scrape-time';

/**
 * The exporter's own view of host labels: how many hosts the bound folded
 * into host="other", and how reverse DNS is doing (only when it is on).
 * DNS figures are as of this scrape's lookups, so they match its series.
 */
export function registerHostMetrics(
  registry: Registry,
  source: ScrapeReader<'foldedHosts' | 'dns'>,
  resolving: boolean,
): void {
  scrapeGauge(
    registry,
    {
      name: 'conntrack_exporter_hosts_folded',
      help: 'Remote hosts (or networks) beyond --max-hosts, counted in host="other" instead of a series of their own.',
    },
    async () => (await source.get()).foldedHosts,
  );
  if (!resolving) return;
  const dns = async () => (await source.get()).dns;
  scrapeCounter(
    registry,
    { name: 'conntrack_exporter_dns_lookups_total', help: 'Reverse DNS lookups started.' },
    async () => (await dns())?.stats.lookups ?? 0,
  );
  scrapeCounter(
    registry,
    {
      name: 'conntrack_exporter_dns_cache_hits_total',
      help: 'Remote addresses named (or known to have no name) from the cache, without a lookup.',
    },
    async () => (await dns())?.stats.hits ?? 0,
  );
  scrapeCounter(
    registry,
    {
      name: 'conntrack_exporter_dns_failures_total',
      help: 'Reverse DNS lookups that gave no name: not_found (NXDOMAIN, no PTR record), timeout, error (anything else).',
      labelNames: ['reason'],
    },
    async () => {
      const failures = (await dns())?.stats.failures;
      return FAILURE_REASONS.map((reason) => [{ reason }, failures?.[reason] ?? 0] as const);
    },
  );
  scrapeGauge(
    registry,
    {
      name: 'conntrack_exporter_dns_cache_entries',
      help: 'Remote addresses held in the reverse DNS cache, with a name or without.',
    },
    async () => (await dns())?.entries,
  );
}
