import assert from 'node:assert/strict';
import test from 'node:test';

import fc from 'fast-check';

import { HostGroup } from '../../src/model/group';
import { Direction } from '../../src/model/flow';
import { networkOf } from '../../src/model/network';
import { totalOf } from '../../src/model/group';
import { addressesToName, OTHER, Series, toSeries } from '../../src/model/series';

function group(host: string, port: number, open: number, direction: Direction = 'outbound') {
  return { host, port, direction, counts: { opening: 0, open, closing: 0, closed: 0 } };
}

function labels(series: Series[]): string[] {
  return series.map((s) => `${s.direction} ${s.host}:${s.port}=${totalOf(s.counts)}`).sort();
}

function total(list: Iterable<{ counts: HostGroup['counts'] }>): number {
  let sum = 0;
  for (const item of list) sum += totalOf(item.counts);
  return sum;
}

const NAMES: Record<string, string> = {
  '198.51.100.1': 'db-1.internal',
  '198.51.100.2': 'web-1.internal',
  '2001:db8::1': 'db-1.internal',
};
const nameOf = (address: string) => NAMES[address];

test('the busiest hosts keep their own series, named when a name is known; the rest become "other"', () => {
  const groups = [
    group('198.51.100.1', 5432, 5),
    group('198.51.100.1', 6379, 1),
    group('198.51.100.3', 443, 4),
    group('198.51.100.2', 443, 2, 'inbound'),
    group('198.51.100.4', 443, 1),
    group('198.51.100.5', 443, 1, 'inbound'),
  ];
  const { series, foldedHosts } = toSeries(groups, { maxHosts: 2, maxPortsPerHost: 10, nameOf });
  assert.deepEqual(labels(series), [
    'inbound other:443=3',
    'outbound 198.51.100.3:443=4',
    'outbound db-1.internal:5432=5',
    'outbound db-1.internal:6379=1',
    'outbound other:443=1',
  ]);
  assert.equal(foldedHosts, 3);
  assert.equal(total(series), total(groups));
});

test('no hosts are folded while there are at most max-hosts', () => {
  const groups = [group('198.51.100.1', 5432, 1), group('198.51.100.2', 80, 1)];
  const { series, foldedHosts } = toSeries(groups, { maxHosts: 2, maxPortsPerHost: 10 });
  assert.equal(foldedHosts, 0);
  assert.deepEqual(labels(series), ['outbound 198.51.100.1:5432=1', 'outbound 198.51.100.2:80=1']);
});

test('ties are broken the same way whatever the order of the table', () => {
  const groups = ['198.51.100.9', '198.51.100.10', '198.51.100.7', '198.51.100.8'].map((host) =>
    group(host, 443, 1),
  );
  const first = labels(toSeries(groups, { maxHosts: 2, maxPortsPerHost: 10 }).series);
  assert.deepEqual(first, [
    'outbound 198.51.100.10:443=1',
    'outbound 198.51.100.7:443=1',
    'outbound other:443=2',
  ]);
  const reversed = labels(toSeries(groups.reverse(), { maxHosts: 2, maxPortsPerHost: 10 }).series);
  assert.deepEqual(reversed, first);
});

test('addresses with the same name share its series', () => {
  const groups = [group('198.51.100.1', 5432, 2), group('2001:db8::1', 5432, 3)];
  const { series, foldedHosts } = toSeries(groups, { maxHosts: 5, maxPortsPerHost: 10, nameOf });
  assert.deepEqual(labels(series), ['outbound db-1.internal:5432=5']);
  assert.equal(foldedHosts, 0);
});

test('hosts grouped by network: one series per network, ranked and folded like hosts', () => {
  const groups = [
    group('198.51.100.1', 443, 1, 'inbound'),
    group('198.51.100.200', 443, 2, 'inbound'),
    group('203.0.113.5', 443, 2, 'inbound'),
    group('2001:db8:0:1::5', 443, 1, 'inbound'),
    group('2001:db8:0:1:ffff::9', 443, 1, 'inbound'),
    group('2001:db8:0:2::1', 443, 1, 'inbound'),
  ];
  const { series, foldedHosts } = toSeries(groups, {
    maxHosts: 3,
    maxPortsPerHost: 10,
    groupBy: { ipv4: 24, ipv6: 64 },
    nameOf, // not used: a network has no name
  });
  assert.deepEqual(labels(series), [
    'inbound 198.51.100.0/24:443=3',
    'inbound 2001:db8:0:1::/64:443=2',
    'inbound 203.0.113.0/24:443=2',
    'inbound other:443=1',
  ]);
  assert.equal(foldedHosts, 1);
});

test('networks are written canonically, for any prefix length', () => {
  const v = (ipv4: number, ipv6: number) => ({ ipv4, ipv6 });
  assert.equal(networkOf('198.51.100.77', v(24, 64)), '198.51.100.0/24');
  assert.equal(networkOf('203.0.113.200', v(20, 64)), '203.0.112.0/20');
  assert.equal(networkOf('203.0.113.200', v(32, 64)), '203.0.113.200/32');
  assert.equal(networkOf('203.0.113.200', v(0, 64)), '0.0.0.0/0');
  assert.equal(networkOf('2001:db8:1:2:3::4', v(24, 64)), '2001:db8:1:2::/64');
  assert.equal(networkOf('2001:db8:1:2:3::4', v(24, 60)), '2001:db8:1::/60');
  assert.equal(networkOf('2001:db8::1', v(24, 128)), '2001:db8::1/128');
  assert.equal(networkOf('2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff', v(24, 0)), '::/0');
  assert.equal(networkOf('::ffff:198.51.100.7', v(24, 120)), '::ffff:198.51.100.0/120');
});

test('each host label keeps its busiest ports; the rest become port "other" per direction', () => {
  const groups = [
    group('198.51.100.1', 22, 9, 'inbound'),
    group('198.51.100.1', 443, 5),
    group('198.51.100.1', 8443, 5),
    group('198.51.100.1', 9000, 1),
    group('198.51.100.1', 9001, 1, 'inbound'),
    group('198.51.100.2', 80, 1),
    group('198.51.100.3', 81, 1),
    group('198.51.100.3', 82, 1),
  ];
  const { series } = toSeries(groups, { maxHosts: 1, maxPortsPerHost: 2 });
  assert.deepEqual(labels(series), [
    'inbound 198.51.100.1:22=9',
    'inbound 198.51.100.1:other=1',
    'outbound 198.51.100.1:443=5',
    'outbound 198.51.100.1:other=6',
    'outbound other:80=1',
    'outbound other:81=1',
    'outbound other:other=1',
  ]);
});

test('max-hosts 0 folds every host', () => {
  const groups = [group('198.51.100.1', 80, 1), group('198.51.100.2', 80, 2)];
  const { series, foldedHosts } = toSeries(groups, { maxHosts: 0, maxPortsPerHost: 10 });
  assert.deepEqual(labels(series), ['outbound other:80=3']);
  assert.equal(foldedHosts, 2);
});

test('the bound holds and every connection is counted once, on thousands of hosts', () => {
  // A fixed pseudo-random table: many hosts, some with many ports.
  let seed = 42;
  const random = (n: number) => {
    // xorshift32: plain modulo LCGs repeat in their low bits.
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const directions: Direction[] = ['outbound', 'inbound', 'forwarded'];
  const groups = new Map<string, HostGroup>();
  for (let i = 0; i < 20_000; i++) {
    const host = random(2) ? `198.51.${random(8)}.${random(256)}` : `2001:db8::${random(3000)}`;
    const port = random(4) ? 443 : 1024 + random(5000);
    const direction = directions[random(3)] ?? 'outbound';
    const key = `${direction}|${host}|${port}`;
    const existing = groups.get(key);
    if (existing) existing.counts.open++;
    else groups.set(key, group(host, port, 1, direction));
  }
  const hosts = new Set([...groups.values()].map((g) => g.host)).size;
  assert.ok(hosts > 2000, `${hosts} hosts`);
  for (const [maxHosts, maxPortsPerHost] of [
    [0, 0],
    [1, 1],
    [50, 5],
    [500, 10],
  ] as const) {
    const { series, foldedHosts } = toSeries(groups.values(), { maxHosts, maxPortsPerHost });
    assert.ok(series.length <= (maxHosts + 1) * (maxPortsPerHost + 3), `${maxHosts}`);
    assert.equal(foldedHosts, Math.max(0, hosts - maxHosts));
    assert.equal(total(series), total(groups.values()));
    const keys = series.map((s) => `${s.direction}|${s.host}|${s.port}`);
    assert.equal(new Set(keys).size, keys.length, 'no label set twice');
  }
});

test('hosts whose name is ignored are left out, and do not take a place', () => {
  const groups = [
    group('198.51.100.1', 5432, 9),
    group('198.51.100.1', 22, 9),
    group('198.51.100.2', 443, 8),
    group('198.51.100.3', 443, 1),
  ];
  const { series, foldedHosts } = toSeries(groups, {
    maxHosts: 1,
    maxPortsPerHost: 10,
    nameOf,
    ignoreName: (name, port) =>
      name === 'web-1.internal' || (name === 'db-1.internal' && port === 5432),
  });
  assert.deepEqual(labels(series), ['outbound db-1.internal:22=9', 'outbound other:443=1']);
  assert.equal(foldedHosts, 1);
});

test('only the addresses that will be labelled are looked up', () => {
  const groups = [
    group('198.51.100.1', 443, 1),
    group('198.51.100.2', 443, 3),
    group('198.51.100.2', 80, 1),
    group('198.51.100.3', 443, 2),
  ];
  assert.deepEqual(addressesToName(groups, { maxHosts: 2, maxPortsPerHost: 1 }), [
    '198.51.100.2',
    '198.51.100.3',
  ]);
  assert.deepEqual(
    addressesToName(groups, { maxHosts: 2, maxPortsPerHost: 1, groupBy: { ipv4: 24, ipv6: 64 } }),
    [],
  );
  // Names decide what is ignored, so every address needs its name.
  assert.deepEqual(
    addressesToName(groups, { maxHosts: 1, maxPortsPerHost: 1, ignoreName: () => false }),
    ['198.51.100.1', '198.51.100.2', '198.51.100.3'],
  );
});

test(`a host named "${OTHER}" is merged into the folded hosts rather than exported twice`, () => {
  const groups = [group('198.51.100.1', 80, 5), group('198.51.100.2', 80, 1)];
  const { series } = toSeries(groups, {
    maxHosts: 1,
    maxPortsPerHost: 10,
    nameOf: (address) => (address === '198.51.100.1' ? OTHER : undefined),
  });
  assert.deepEqual(labels(series), ['outbound other:80=6']);
});

test('without names or networks, the series are the same whether groups are merged or taken as they are', () => {
  // toSeries takes each group as its own series when no host is folded and
  // none has too many ports; a nameOf that knows no name gives the same
  // labels through the general path, which merges and caps.
  const counts = fc.record({
    opening: fc.nat(5),
    open: fc.nat(50),
    closing: fc.nat(5),
    closed: fc.nat(5),
  });
  const groups = fc.uniqueArray(
    fc.record({
      host: fc.constantFrom('198.51.100.1', '198.51.100.2', '2001:db8::1', '203.0.113.9'),
      port: fc.integer({ min: 1, max: 12 }),
      direction: fc.constantFrom<Direction>('outbound', 'inbound', 'forwarded'),
      counts,
    }),
    { selector: (g) => `${g.direction}|${g.host}|${g.port}`, maxLength: 40 },
  );
  fc.assert(
    fc.property(groups, fc.nat(5), fc.nat(8), (list, maxHosts, maxPortsPerHost) => {
      const direct = toSeries(list, { maxHosts, maxPortsPerHost });
      const general = toSeries(list, { maxHosts, maxPortsPerHost, nameOf: () => undefined });
      assert.deepEqual(labels(direct.series), labels(general.series));
      assert.equal(direct.foldedHosts, general.foldedHosts);
      assert.equal(total(direct.series), total(list));
    }),
    { numRuns: 500 },
  );
});

test('the mapping puts each group of the table in the series the gauges counted it in', () => {
  const groups = fc.uniqueArray(
    fc.record({
      host: fc.constantFrom('198.51.100.1', '198.51.100.2', '198.51.100.3', '2001:db8::1'),
      port: fc.integer({ min: 1, max: 6 }),
      direction: fc.constantFrom<Direction>('outbound', 'inbound'),
      open: fc.integer({ min: 1, max: 20 }),
    }),
    { selector: (g) => `${g.direction}|${g.host}|${g.port}`, maxLength: 30 },
  );
  fc.assert(
    fc.property(groups, fc.nat(4), fc.nat(4), fc.boolean(), (list, maxHosts, maxPorts, named) => {
      const table = list.map((g) => group(g.host, g.port, g.open, g.direction));
      const { series, mapping } = toSeries(table, {
        maxHosts,
        maxPortsPerHost: maxPorts,
        nameOf: named ? nameOf : undefined,
      });
      const sums = new Map<string, number>();
      for (const one of table) {
        const to = mapping.labelsOf(one);
        assert.ok(to !== undefined);
        const key = `${to.direction} ${to.host}:${to.port}`;
        sums.set(key, (sums.get(key) ?? 0) + one.counts.open);
      }
      assert.deepEqual(
        [...sums].map(([key, open]) => `${key}=${open}`).sort(),
        series.map((s) => `${s.direction} ${s.host}:${s.port}=${s.counts.open}`).sort(),
      );
    }),
    { numRuns: 500 },
  );
});
