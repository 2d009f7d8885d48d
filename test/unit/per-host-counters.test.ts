import assert from 'node:assert/strict';
import test from 'node:test';

import fc from 'fast-check';

import { Direction } from '../../src/model/flow';
import { GroupLabels, HostGroup } from '../../src/model/group';
import { CounterSeries, PerHostCounters } from '../../src/model/per-host-counters';
import { SeriesOptions, toSeries } from '../../src/model/series';

const KINDS = ['refused', 'timeout'] as const;
type Kind = (typeof KINDS)[number];

function group(host: string, port: number, open: number, direction: Direction = 'outbound') {
  return { host, port, direction, counts: { opening: 0, open, closing: 0, closed: 0 } };
}

const to = (host: string, port: number, direction: Direction = 'outbound'): GroupLabels => ({
  host,
  port,
  direction,
});

const labelsOf = (s: CounterSeries<Kind>) => `${s.direction} ${s.host}:${s.port}`;

function rows(list: readonly CounterSeries<Kind>[]): string[] {
  return list.map((s) => `${labelsOf(s)} ${s.values.refused}/${s.values.timeout}`).sort();
}

function fold(
  counters: PerHostCounters<Kind>,
  table: HostGroup[],
  options: SeriesOptions,
): readonly CounterSeries<Kind>[] {
  return counters.fold(toSeries(table, options).mapping);
}

test('a host that loses its label counts on in "other"; its own series stays as it was', () => {
  const counters = new PerHostCounters(KINDS);
  const options = { maxHosts: 1, maxPortsPerHost: 10 };
  counters.add(to('198.51.100.1', 5432), 'refused');
  counters.add(to('198.51.100.2', 5432), 'refused', 2);
  // .1 is the table's only host: its label is the one there is room for.
  assert.deepEqual(rows(fold(counters, [group('198.51.100.1', 5432, 1)], options)), [
    'outbound 198.51.100.1:5432 1/0',
    'outbound other:5432 2/0',
  ]);
  counters.add(to('198.51.100.1', 5432), 'timeout');
  counters.add(to('198.51.100.2', 5432), 'refused');
  const table = [group('198.51.100.1', 5432, 1), group('198.51.100.2', 5432, 3)];
  assert.deepEqual(rows(fold(counters, table, options)), [
    'outbound 198.51.100.1:5432 1/0',
    'outbound 198.51.100.2:5432 1/0',
    'outbound other:5432 2/1',
  ]);
});

test('rows a scrape was given never change: a later fold makes new ones for what it adds to', () => {
  const counters = new PerHostCounters(KINDS);
  const options = { maxHosts: 10, maxPortsPerHost: 10 };
  const table = [group('198.51.100.1', 5432, 1), group('198.51.100.2', 443, 1)];
  counters.add(to('198.51.100.1', 5432), 'refused');
  counters.add(to('198.51.100.2', 443), 'timeout');
  const first = fold(counters, table, options);
  const firstText = rows(first);
  counters.add(to('198.51.100.1', 5432), 'refused', 2);
  const second = fold(counters, table, options);
  assert.deepEqual(rows(first), firstText, 'the first scrape still writes what it was given');
  assert.deepEqual(rows(second), [
    'outbound 198.51.100.1:5432 3/0',
    'outbound 198.51.100.2:443 0/1',
  ]);
  const unchanged = (list: readonly CounterSeries<Kind>[]) =>
    list.find((one) => one.host === '198.51.100.2');
  assert.equal(unchanged(second), unchanged(first), 'a series nothing was added to is not copied');
  assert.notEqual(
    second.find((one) => one.host === '198.51.100.1'),
    first.find((one) => one.host === '198.51.100.1'),
  );
});

test('hosts and ports the table does not have keep labels while there is room, first come first served', () => {
  const counters = new PerHostCounters(KINDS);
  const options = { maxHosts: 2, maxPortsPerHost: 1 };
  counters.add(to('198.51.100.1', 6379), 'refused');
  counters.add(to('198.51.100.7', 80), 'timeout');
  counters.add(to('198.51.100.7', 81), 'timeout');
  counters.add(to('198.51.100.8', 80), 'timeout');
  counters.add(to('198.51.100.7', 80, 'inbound'), 'refused');
  assert.deepEqual(rows(fold(counters, [group('198.51.100.1', 5432, 1)], options)), [
    // .7 took the one free host label, and its port 80 the one free port.
    'inbound 198.51.100.7:other 1/0',
    'outbound 198.51.100.1:other 1/0',
    'outbound 198.51.100.7:80 0/1',
    'outbound 198.51.100.7:other 0/1',
    'outbound other:80 0/1',
  ]);
});

test('with --group-hosts-by, an address counts in its network, in the table or not', () => {
  const counters = new PerHostCounters(KINDS);
  const options = { maxHosts: 1, maxPortsPerHost: 10, groupBy: { ipv4: 24, ipv6: 64 } };
  counters.add(to('198.51.100.9', 5432), 'refused');
  counters.add(to('203.0.113.9', 5432), 'refused');
  assert.deepEqual(rows(fold(counters, [group('198.51.100.1', 5432, 1)], options)), [
    'outbound 198.51.100.0/24:5432 1/0',
    'outbound other:5432 1/0',
  ]);
});

test('hosts left out by name are not counted, as the gauges leave them out', () => {
  const counters = new PerHostCounters(KINDS);
  counters.add(to('198.51.100.1', 5432), 'refused');
  counters.add(to('198.51.100.2', 5432), 'refused');
  const options: SeriesOptions = {
    maxHosts: 10,
    maxPortsPerHost: 10,
    nameOf: (address) => (address === '198.51.100.2' ? 'noise.example' : undefined),
    ignoreName: (name) => name === 'noise.example',
  };
  assert.deepEqual(rows(fold(counters, [], options)), ['outbound 198.51.100.1:5432 1/0']);
});

test('series idle past the retention go, unless the gauges have them', () => {
  let now = 1_000_000;
  const counters = new PerHostCounters(KINDS, 60_000, () => now);
  const options = { maxHosts: 10, maxPortsPerHost: 10 };
  counters.add(to('198.51.100.1', 5432), 'refused');
  counters.add(to('198.51.100.2', 5432), 'refused');
  const table = [group('198.51.100.1', 5432, 1)];
  assert.equal(fold(counters, table, options).length, 2);
  now += 60_000;
  assert.equal(fold(counters, table, options).length, 2);
  now += 1;
  assert.deepEqual(rows(fold(counters, table, options)), ['outbound 198.51.100.1:5432 1/0']);
  // Back after it was forgotten: from zero, a counter reset to Prometheus.
  counters.add(to('198.51.100.2', 5432), 'timeout');
  assert.deepEqual(rows(fold(counters, table, options)), [
    'outbound 198.51.100.1:5432 1/0',
    'outbound 198.51.100.2:5432 0/1',
  ]);
});

test('a family holds at most (N + 1) x (K + 3) series: the least recently changed go first', () => {
  let now = 0;
  const counters = new PerHostCounters(KINDS, 3_600_000, () => now);
  // The bound: 2 x 4 = 8 series.
  const options = { maxHosts: 1, maxPortsPerHost: 1 };
  for (let i = 1; i <= 12; i++) {
    now += 1000;
    // Each scrape's table is empty: the one free host label goes to a new host.
    counters.add(to(`198.51.100.${i}`, 80), 'refused', i);
    const list = fold(counters, [], options);
    assert.ok(list.length <= 8, `${list.length} series`);
  }
  assert.deepEqual(
    rows(counters.rows()),
    [5, 6, 7, 8, 9, 10, 11, 12].map((i) => `outbound 198.51.100.${i}:80 ${i}/0`).sort(),
  );
});

const HOSTS = ['198.51.100.1', '198.51.100.2', '198.51.100.3', '2001:db8::1', '2001:db8::2'];
const address = fc.constantFrom(...HOSTS);
const port = fc.constantFrom(22, 80, 443, 5432);
const direction = fc.constantFrom<Direction>('outbound', 'inbound');
const scrape = fc.record({
  adds: fc.array(
    fc.record({
      host: address,
      port,
      direction,
      kind: fc.constantFrom(...KINDS),
      amount: fc.integer({ min: 1, max: 5 }),
    }),
    { maxLength: 20 },
  ),
  table: fc.uniqueArray(
    fc.record({ host: address, port, direction, open: fc.integer({ min: 1, max: 9 }) }),
    { selector: (g) => `${g.host} ${g.port} ${g.direction}`, maxLength: 8 },
  ),
  maxHosts: fc.integer({ min: 1, max: 3 }),
  maxPortsPerHost: fc.integer({ min: 1, max: 3 }),
  passedMs: fc.integer({ min: 0, max: 2_000 }),
});

test('whatever the rankings: exported series only grow, within the bound, and all counted is exported or was dropped', () => {
  fc.assert(
    fc.property(fc.array(scrape, { minLength: 1, maxLength: 12 }), (scrapes) => {
      let now = 0;
      const counters = new PerHostCounters(KINDS, 3_000, () => now);
      const added = { refused: 0, timeout: 0 };
      const dropped = { refused: 0, timeout: 0 };
      let before = new Map<string, CounterSeries<Kind>>();
      for (const step of scrapes) {
        now += step.passedMs;
        for (const one of step.adds) {
          counters.add(to(one.host, one.port, one.direction), one.kind, one.amount);
          added[one.kind] += one.amount;
        }
        const { mapping } = toSeries(
          step.table.map((g) => group(g.host, g.port, g.open, g.direction)),
          step,
        );
        const after = new Map(counters.fold(mapping).map((s) => [labelsOf(s), s]));
        assert.ok(after.size <= mapping.maxSeries);
        for (const [labels, old] of before) {
          const current = after.get(labels);
          for (const kind of KINDS) {
            if (current === undefined) dropped[kind] += old.values[kind];
            else assert.ok(current.values[kind] >= old.values[kind], `${labels} went down`);
          }
        }
        for (const kind of KINDS) {
          let exported = 0;
          for (const s of after.values()) exported += s.values[kind];
          assert.equal(exported + dropped[kind], added[kind]);
        }
        before = after;
      }
    }),
    { numRuns: 300 },
  );
});
