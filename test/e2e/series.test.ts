/**
 * The bound on series, against a real table holding thousands of synthetic
 * entries to thousands of remote addresses: the number of series never
 * exceeds the bound, the right hosts keep their series, the folded count is
 * right, and every connection of the table is counted exactly once.
 */
import assert from 'node:assert/strict';
import test, { type TestContext } from 'node:test';

import { insertEntries, type SyntheticEntry } from '../helpers/conntrack-load';
import { pick, startExporter } from '../helpers/exporter';
import { conntrackList, createNamespace, type Namespace } from '../helpers/netns';

const PORT = 9318;
const PHASE_OF_STATE: Record<string, string> = {
  SYN_SENT: 'opening',
  ESTABLISHED: 'open',
  TIME_WAIT: 'closing',
  CLOSE: 'closed',
};
const STATES = Object.keys(PHASE_OF_STATE);

/**
 * ~2900 remote hosts (IPv4 in two /24s, IPv6 in eight /64s) and ~3700
 * entries: every host has one, one host in 20 has several (so the ranking
 * matters and has ties), and one in 10 uses one of 60 other ports.
 */
function syntheticTable(): SyntheticEntry[] {
  const hosts = [
    ...Array.from({ length: 254 }, (_, i) => `198.51.100.${i + 1}`),
    ...Array.from({ length: 254 }, (_, i) => `203.0.113.${i + 1}`),
    ...Array.from({ length: 2400 }, (_, i) => `2001:db8:${i % 8}::${(i + 1).toString(16)}`),
  ];
  const entries: SyntheticEntry[] = [];
  hosts.forEach((dst, h) => {
    const count = h % 20 === 0 ? 2 + (h % 7) : 1;
    for (let c = 0; c < count; c++) {
      entries.push({
        src: dst.includes(':') ? '::1' : '127.0.0.1',
        dst,
        sport: 10_000 + (entries.length % 50_000),
        dport: (h + c) % 10 === 0 ? 1024 + ((h + c) % 60) : 443,
        state: STATES[entries.length % STATES.length] ?? 'ESTABLISHED',
      });
    }
  });
  return entries;
}

interface Reference {
  perPhase: Map<string, number>;
  perHost: Map<string, number>;
}

/** What `conntrack -L` says, leaving out the scrapes of the exporter's own port. */
async function reference(ns: Namespace): Promise<Reference> {
  const perPhase = new Map<string, number>();
  const perHost = new Map<string, number>();
  for (const entry of await conntrackList(ns)) {
    if (entry.original.dport === PORT) continue;
    const phase = PHASE_OF_STATE[entry.state];
    assert.ok(phase, `unexpected state ${entry.state}`);
    perPhase.set(phase, (perPhase.get(phase) ?? 0) + 1);
    perHost.set(entry.reply.src, (perHost.get(entry.reply.src) ?? 0) + 1);
  }
  return { perPhase, perHost };
}

interface Sample {
  phase: string;
  labels: Record<string, string>;
  value: number;
}

async function scrape(ns: Namespace, args: string[]): Promise<Map<string, number>> {
  const exporter = await startExporter(ns, ['--no-resolve-hosts', ...args], { port: PORT });
  try {
    return await exporter.metrics();
  } finally {
    await exporter.stop();
  }
}

/** The connection gauges' samples (new or legacy names). */
function connectionSamples(metrics: Map<string, number>): Sample[] {
  const samples: Sample[] = [];
  for (const [key, value] of pick(metrics, /^conntrack_\w+_connections(_total)?$/)) {
    const [, phase = '', labelText = ''] =
      /^conntrack_(\w+?)_connections(?:_total)?\{(.*)\}$/.exec(key) ?? [];
    const labels = Object.fromEntries(
      [...labelText.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']),
    );
    samples.push({ phase, labels, value });
  }
  return samples;
}

function assertTotals(samples: Sample[], table: Reference): void {
  const perPhase = new Map<string, number>();
  for (const { phase, value } of samples) perPhase.set(phase, (perPhase.get(phase) ?? 0) + value);
  for (const phase of Object.values(PHASE_OF_STATE)) {
    assert.equal(perPhase.get(phase) ?? 0, table.perPhase.get(phase) ?? 0, `${phase} total`);
  }
}

function seriesPerPhase(samples: Sample[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { phase } of samples) counts.set(phase, (counts.get(phase) ?? 0) + 1);
  return counts;
}

async function loadedNamespace(t: TestContext): Promise<{ ns: Namespace; table: Reference }> {
  const ns = await createNamespace(t);
  const entries = syntheticTable();
  const started = Date.now();
  await insertEntries(ns, entries);
  t.diagnostic(`inserted ${entries.length} entries in ${Date.now() - started} ms`);
  const table = await reference(ns);
  // What syntheticTable() makes, worked out by hand: 2908 hosts, 2762 of
  // them with one connection and 21 each with 2, 4, 5, 6, 7 and 8 and 20 with
  // 3; the states in turn.
  assert.equal(entries.length, 3494);
  assert.deepEqual(Object.fromEntries(table.perPhase), {
    opening: 874,
    open: 874,
    closing: 873,
    closed: 873,
  });
  assert.equal(table.perHost.size, 2908);
  return { ns, table };
}

test('thousands of remote hosts: the busiest keep their series, the rest fold, nothing is lost', async (t) => {
  const { ns, table } = await loadedNamespace(t);
  // Exactly the hosts with 5 connections or more (no tie at the bound).
  const maxHosts = 84;
  const maxPorts = 5;
  const metrics = await scrape(ns, [`--max-hosts=${maxHosts}`, `--max-ports-per-host=${maxPorts}`]);
  const samples = connectionSamples(metrics);

  for (const [phase, count] of seriesPerPhase(samples)) {
    assert.ok(count <= (maxHosts + 1) * (maxPorts + 3), `${phase}: ${count} series`);
  }
  const labelled = new Set(samples.map((s) => s.labels.host));
  labelled.delete('other');
  const busiest = [...table.perHost].filter(([, count]) => count >= 5).map(([host]) => host);
  assert.equal(busiest.length, 84);
  assert.deepEqual([...labelled].sort(), busiest.sort());
  assert.equal(metrics.get('conntrack_exporter_hosts_folded'), 2908 - 84);
  assert.ok(samples.some((s) => s.labels.host === 'other' && s.labels.port === 'other'));
  assertTotals(samples, table);
});

test('hosts grouped by network are ranked and folded like hosts', async (t) => {
  const { ns, table } = await loadedNamespace(t);
  const metrics = await scrape(ns, ['--group-hosts-by=/24,/64', '--max-hosts=6']);
  const samples = connectionSamples(metrics);
  // Connections per network: 2001:db8::/64 541, 2001:db8:4::/64 538,
  // 198.51.100.0/24 308, 203.0.113.0/24 307, the six other /64s 300 each:
  // of those, the lowest addresses win the tie.
  assert.deepEqual([...new Set(samples.map((s) => s.labels.host))].sort(), [
    '198.51.100.0/24',
    '2001:db8:1::/64',
    '2001:db8:2::/64',
    '2001:db8:4::/64',
    '2001:db8::/64',
    '203.0.113.0/24',
    'other',
  ]);
  const perLabel = new Map<string, number>();
  for (const { labels, value } of samples) {
    perLabel.set(labels.host!, (perLabel.get(labels.host!) ?? 0) + value);
  }
  assert.deepEqual(Object.fromEntries(perLabel), {
    '2001:db8::/64': 541,
    '2001:db8:4::/64': 538,
    '198.51.100.0/24': 308,
    '203.0.113.0/24': 307,
    '2001:db8:1::/64': 300,
    '2001:db8:2::/64': 300,
    other: 4 * 300,
  });
  assert.equal(metrics.get('conntrack_exporter_hosts_folded'), 10 - 6);
  assertTotals(samples, table);
});

test('with legacy names the bound is one series per host label', async (t) => {
  const { ns, table } = await loadedNamespace(t);
  const metrics = await scrape(ns, ['--legacy-metric-names', '--max-hosts=50']);
  const samples = connectionSamples(metrics);
  for (const [phase, count] of seriesPerPhase(samples)) {
    assert.ok(count <= 51, `${phase}: ${count} series`);
  }
  assert.equal(metrics.get('conntrack_exporter_hosts_folded'), 2908 - 50);
  assertTotals(samples, table);
});

test('the v0.3 layout: folded hosts and ports in the one host label, non-zero samples only', async (t) => {
  const { ns, table } = await loadedNamespace(t);
  const metrics = await scrape(ns, [
    '--metric-layout=v0.3',
    '--max-hosts=50',
    '--max-ports-per-host=1',
  ]);
  const samples = connectionSamples(metrics);
  // (N + 1) x (K + 1): the directions are summed into one label.
  for (const [phase, count] of seriesPerPhase(samples)) {
    assert.ok(count <= 51 * 2, `${phase}: ${count} series`);
  }
  for (const { labels, value } of samples) {
    assert.deepEqual(Object.keys(labels), ['host']);
    assert.match(labels.host!, /^(other|\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\]):(other|\d+)$/);
    assert.ok(value > 0, `${labels.host}: ${value}`);
  }
  const hosts = new Set(samples.map((s) => s.labels.host));
  // 2858 hosts folded, most of them on port 443; their other ports beyond the one kept.
  assert.ok(hosts.has('other:443'));
  assert.ok(hosts.has('other:other'));
  assert.equal(metrics.get('conntrack_exporter_hosts_folded'), 2908 - 50);
  assertTotals(samples, table);
});
