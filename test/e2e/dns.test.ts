/**
 * Host names from reverse DNS, against a real DNS server: dnsmasq in the
 * "remote" namespace serves PTR records, and the "host" namespace's
 * resolver (where the exporter runs) points at it. The flows are synthetic
 * conntrack entries from the host to documentation addresses.
 */
import assert from 'node:assert/strict';
import test from 'node:test';

import { missingComponent, missingProgram } from '../helpers/components';
import { insertEntries, type SyntheticEntry } from '../helpers/conntrack-load';
import { startDnsServer } from '../helpers/dns-server';
import {
  parseExposition,
  pick,
  seriesKey,
  startExporter,
  type ExporterProcess,
} from '../helpers/exporter';
import { createTopology, HOST_IPV4, HOST_IPV6, waitFor, type Namespace } from '../helpers/netns';

const OPEN = /^conntrack_open_connections$/;
const DNSMASQ = missingProgram('dnsmasq', 'apt-get install dnsmasq-base');

function outbound(dst: string, dport: number, count = 1): SyntheticEntry[] {
  const src = dst.includes(':') ? HOST_IPV6 : HOST_IPV4;
  return Array.from({ length: count }, (_, i) => ({
    src,
    dst,
    sport: 40_000 + dport + i,
    dport,
    state: 'ESTABLISHED',
  }));
}

function open(host: string, port: number): string {
  return seriesKey('conntrack_open_connections', {
    direction: 'outbound',
    host,
    port: String(port),
  });
}

/** Scrapes until the open connections are exactly `expected`; fails with the last scrape. */
async function waitForOpen(
  exporter: ExporterProcess,
  expected: Map<string, number>,
  timeoutMs = 10_000,
): Promise<Map<string, number>> {
  let last = new Map<string, number>();
  try {
    await waitFor(
      async () => {
        last = await exporter.metrics();
        const open = pick(last, OPEN);
        return [...open].sort().join('\n') === [...expected].sort().join('\n');
      },
      timeoutMs,
      'open connection series',
    );
  } catch {
    assert.deepEqual(pick(last, OPEN), expected);
  }
  return last;
}

/** One scrape, and how long the HTTP request took by curl's clock (no process start in it). */
async function timedScrape(ns: Namespace, exporter: ExporterProcess) {
  const result = await ns.exec([
    'curl',
    '-sS',
    '--fail',
    '--max-time',
    '60',
    '-w',
    '\\n# time_total %{time_total}\\n',
    `${exporter.url}/metrics`,
  ]);
  if (result.code !== 0) throw new Error(`scrape failed (${result.code}): ${result.stderr}`);
  const seconds = Number(/^# time_total (\S+)$/m.exec(result.stdout)?.[1]);
  return { metrics: parseExposition(result.stdout), seconds };
}

test('hosts are labelled with their PTR names; names that do not exist stay addresses', async (t) => {
  if (missingComponent(t, DNSMASQ)) return;
  const { host, remote } = await createTopology(t);
  await startDnsServer(t, remote, host, {
    '198.51.100.7': 'db-1.internal',
    '2001:db8:1::7': 'db-1-v6.internal',
    '198.51.100.9': 'prom.monitoring.internal',
  });
  await insertEntries(host, [
    ...outbound('198.51.100.7', 5432, 2),
    ...outbound('198.51.100.8', 443),
    ...outbound('2001:db8:1::7', 5432),
    // Written long-hand: the label is the canonical short form.
    ...outbound('2001:db8:1:0:0:0:0:8', 443),
    ...outbound('198.51.100.9', 9100),
  ]);
  // Limits no busy machine reaches: every lookup is answered within them,
  // and the first scrape waits for all the names.
  const exporter = await startExporter(host, [
    '--ignore-hosts=*.monitoring.internal',
    '--dns-timeout=30s',
    '--dns-budget=10s',
  ]);
  t.after(() => exporter.stop());

  const expected = new Map([
    [open('db-1.internal', 5432), 2],
    [open('198.51.100.8', 443), 1],
    [open('db-1-v6.internal', 5432), 1],
    [open('2001:db8:1::8', 443), 1],
  ]);
  const first = await waitForOpen(exporter, expected);
  // Once more: every address is known now, so this scrape is all cache hits.
  const metrics = await exporter.metrics();
  assert.deepEqual(pick(metrics, OPEN), expected);
  const self = (name: string, labels?: Record<string, string>, scrape = metrics) =>
    scrape.get(seriesKey(`conntrack_exporter_${name}`, labels));
  assert.equal(self('dns_lookups_total'), 5);
  assert.equal(self('dns_failures_total', { reason: 'not_found' }), 2);
  assert.equal(self('dns_failures_total', { reason: 'timeout' }), 0);
  assert.equal(self('dns_cache_entries'), 5);
  const hits = (scrape: Map<string, number>) => self('dns_cache_hits_total', {}, scrape) ?? 0;
  assert.equal(hits(metrics) - hits(first), 5, 'the last scrape is answered from cache');
  assert.equal(self('hosts_folded'), 0);
});

test('a name that changes is picked up after the TTL, without flapping to the address', async (t) => {
  if (missingComponent(t, DNSMASQ)) return;
  const { host, remote } = await createTopology(t);
  const dns = await startDnsServer(t, remote, host, { '198.51.100.7': 'old.internal' });
  await insertEntries(host, outbound('198.51.100.7', 5432));
  const exporter = await startExporter(host, ['--dns-ttl=2s']);
  t.after(() => exporter.stop());

  await waitForOpen(exporter, new Map([[open('old.internal', 5432), 1]]));
  await dns.setRecords({ '198.51.100.7': 'new.internal' });
  const seen = new Set<string>();
  await waitFor(
    async () => {
      const hosts = [...pick(await exporter.metrics(), OPEN).keys()];
      for (const key of hosts) seen.add(key);
      return hosts.length === 1 && hosts[0] === open('new.internal', 5432);
    },
    20_000,
    'the new name',
  );
  assert.deepEqual([...seen].sort(), [open('new.internal', 5432), open('old.internal', 5432)]);
});

test('a DNS server that does not answer: scrapes stay within the budget and use addresses', async (t) => {
  if (missingComponent(t, DNSMASQ)) return;
  const { host, remote } = await createTopology(t);
  const dns = await startDnsServer(t, remote, host, { '198.51.100.7': 'db-1.internal' });
  await dns.silence();
  await insertEntries(host, [...outbound('198.51.100.7', 5432), ...outbound('2001:db8:1::7', 443)]);
  const budgetMs = 250;
  // Far beyond the budget, so that a scrape waiting for the lookups cannot
  // pass for one that kept to the budget on a slow machine.
  const timeoutMs = 10_000;
  const exporter = await startExporter(host, [
    `--dns-timeout=${timeoutMs}ms`,
    `--dns-budget=${budgetMs}ms`,
  ]);
  t.after(() => exporter.stop());

  const expected = new Map([
    [open('198.51.100.7', 5432), 1],
    [open('2001:db8:1::7', 443), 1],
  ]);
  // Twice: while the first lookups are new, and while they are still waiting.
  for (let i = 0; i < 2; i++) {
    const { metrics, seconds } = await timedScrape(host, exporter);
    // The time of the HTTP request alone, as curl measures it.
    assert.ok(seconds * 1000 < timeoutMs / 2, `scrape took ${seconds} s`);
    assert.deepEqual(pick(metrics, OPEN), expected);
  }
  const timeouts = seriesKey('conntrack_exporter_dns_failures_total', { reason: 'timeout' });
  const metrics = await waitFor(
    async () => {
      const scraped = await exporter.metrics();
      return (scraped.get(timeouts) ?? 0) === 2 && scraped;
    },
    timeoutMs * 4,
    'the lookups to time out',
  );
  assert.deepEqual(pick(metrics, OPEN), expected);
});
