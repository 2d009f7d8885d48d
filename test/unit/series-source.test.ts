import assert from 'node:assert/strict';
import test from 'node:test';

import { Registry } from 'prom-client';

import { connectionGauges } from '../../src/collectors/connections';
import { Exposition } from '../../src/collectors/exposition';
import { registerHostMetrics } from '../../src/collectors/hosts';
import { ScrapeSource } from '../../src/collectors/scrape';
import { HostLabelConfig } from '../../src/options/host-label-config';
import { HostGroup } from '../../src/model/group';
import { DnsCache } from '../../src/model/dns-cache';
import { HostFilter } from '../../src/model/host-filter';
import { Snapshot } from '../../src/table/reader';

function groups(...list: [string, number, number][]): HostGroup[] {
  return list.map(([host, port, open]) => ({
    host,
    port,
    direction: 'outbound',
    counts: { opening: 0, open, closing: 0, closed: 0 },
  }));
}

const CONFIG: HostLabelConfig = {
  maxHosts: 2,
  maxPortsPerHost: 10,
  dns: { ttlMs: 60_000, negativeTtlMs: 10_000, timeoutMs: 1_000, budgetMs: 30, maxInFlight: 4 },
};

function exporter(
  snapshot: () => Snapshot,
  lookup: (address: string) => Promise<string[]>,
  options: { legacy?: boolean; ignore?: string[]; config?: HostLabelConfig } = {},
) {
  const config = options.config ?? CONFIG;
  const names = config.dns && new DnsCache({ ...config.dns, lookup });
  const series = new ScrapeSource(
    {
      // Like a read of the table, which takes a turn of the event loop.
      read: () => new Promise((resolve) => setImmediate(() => resolve(snapshot()))),
    },
    config,
    HostFilter.parse(options.ignore ?? []),
    names,
  );
  const registry = new Registry();
  const exposition = new Exposition(registry);
  exposition.add(connectionGauges(series, options.legacy === true ? 'v0.1' : 'native'));
  registerHostMetrics(registry, series, names !== undefined);
  return exposition;
}

/** The sample lines of `metric` in one scrape (or in `text`), without HELP and TYPE. */
async function samples(registry: Exposition, metric: string, text?: string): Promise<string[]> {
  return (text ?? (await registry.metrics()).toString())
    .split('\n')
    .filter((line) => line.startsWith(`${metric}{`) || line.startsWith(`${metric} `))
    .sort();
}

test('a scrape labels hosts by address until their names are known, then by name', async () => {
  let answer: ((names: string[]) => void) | undefined;
  const lookup = () => new Promise<string[]>((resolve) => (answer = resolve));
  const registry = exporter(
    () => ({ groups: groups(['198.51.100.1', 5432, 2]), durationSeconds: 0 }),
    lookup,
  );
  assert.deepEqual(await samples(registry, 'conntrack_open_connections'), [
    'conntrack_open_connections{host="198.51.100.1",port="5432",direction="outbound"} 2',
  ]);
  answer?.(['db-1.internal.']);
  const text = (await registry.metrics()).toString();
  assert.deepEqual(await samples(registry, 'conntrack_open_connections', text), [
    'conntrack_open_connections{host="db-1.internal",port="5432",direction="outbound"} 2',
  ]);
  assert.deepEqual(await samples(registry, 'conntrack_exporter_dns_lookups_total', text), [
    'conntrack_exporter_dns_lookups_total 1',
  ]);
  assert.deepEqual(await samples(registry, 'conntrack_exporter_dns_cache_hits_total', text), [
    'conntrack_exporter_dns_cache_hits_total 1',
  ]);
  assert.deepEqual(await samples(registry, 'conntrack_exporter_dns_cache_entries', text), [
    'conntrack_exporter_dns_cache_entries 1',
  ]);
});

test('hosts beyond max-hosts are one "other" host, and counted as folded', async () => {
  const registry = exporter(
    () => ({
      groups: groups(['198.51.100.1', 443, 3], ['198.51.100.2', 443, 2], ['198.51.100.3', 443, 1]),
      durationSeconds: 0,
    }),
    () => Promise.reject(Object.assign(new Error('NXDOMAIN'), { code: 'ENOTFOUND' })),
  );
  assert.deepEqual(await samples(registry, 'conntrack_open_connections'), [
    'conntrack_open_connections{host="198.51.100.1",port="443",direction="outbound"} 3',
    'conntrack_open_connections{host="198.51.100.2",port="443",direction="outbound"} 2',
    'conntrack_open_connections{host="other",port="443",direction="outbound"} 1',
  ]);
  assert.deepEqual(await samples(registry, 'conntrack_exporter_hosts_folded'), [
    'conntrack_exporter_hosts_folded 1',
  ]);
  assert.deepEqual(await samples(registry, 'conntrack_exporter_dns_failures_total'), [
    'conntrack_exporter_dns_failures_total{reason="error"} 0',
    'conntrack_exporter_dns_failures_total{reason="not_found"} 2',
    'conntrack_exporter_dns_failures_total{reason="timeout"} 0',
  ]);
});

test('legacy names sum the bounded series per host', async () => {
  const registry = exporter(
    () => ({
      groups: groups(['198.51.100.1', 443, 3], ['198.51.100.1', 80, 1], ['198.51.100.3', 443, 1]),
      durationSeconds: 0,
    }),
    async () => [],
    { legacy: true, config: { ...CONFIG, maxHosts: 1, dns: undefined } },
  );
  assert.deepEqual(await samples(registry, 'conntrack_open_connections_total'), [
    'conntrack_open_connections_total{host="198.51.100.1"} 4',
    'conntrack_open_connections_total{host="other"} 1',
  ]);
  const text = (await registry.metrics()).toString();
  assert.doesNotMatch(text, /dns_/, 'no DNS metrics with --no-resolve-hosts');
});

test('hosts whose name is ignored are left out once the name is known', async () => {
  const registry = exporter(
    () => ({
      groups: groups(['198.51.100.1', 9100, 1], ['198.51.100.2', 443, 1]),
      durationSeconds: 0,
    }),
    async (address) => (address === '198.51.100.1' ? ['prom.monitoring.internal'] : []),
    { ignore: ['*.monitoring.internal'] },
  );
  assert.deepEqual(await samples(registry, 'conntrack_open_connections'), [
    'conntrack_open_connections{host="198.51.100.2",port="443",direction="outbound"} 1',
  ]);
});

test('a failed read exports no connection series', async () => {
  const registry = exporter(
    () => ({ error: new Error('EPERM'), durationSeconds: 0 }),
    async () => [],
  );
  assert.deepEqual(await samples(registry, 'conntrack_open_connections'), []);
});
