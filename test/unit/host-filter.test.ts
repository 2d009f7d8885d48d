import assert from 'node:assert/strict';
import test from 'node:test';

import { UsageError } from '../../src/errors';
import { HostFilter } from '../../src/model/host-filter';

test('addresses, address:port pairs and CIDR networks, IPv4 and IPv6', () => {
  const filter = HostFilter.parse([
    '192.0.2.7, 198.51.100.0/24',
    '203.0.113.9:443,[2001:db8::1]:8443',
    '2001:db8:1::/48',
    '2001:0db8:0000:0000:0000:0000:0000:00ff',
  ]);
  assert.equal(filter.matches('192.0.2.7', 80), true);
  assert.equal(filter.matches('192.0.2.8', 80), false);
  assert.equal(filter.matches('198.51.100.200', 1), true);
  assert.equal(filter.matches('203.0.113.9', 443), true);
  assert.equal(filter.matches('203.0.113.9', 80), false, 'only that port of that host');
  assert.equal(filter.matches('2001:db8::1', 8443), true);
  assert.equal(filter.matches('2001:db8::1', 443), false);
  assert.equal(filter.matches('2001:db8:1:ffff::1', 1), true);
  assert.equal(filter.matches('2001:db8:2::1', 1), false);
  assert.equal(filter.matches('2001:db8::ff', 1), true, 'a non-canonical address still matches');
});

test('host names, exact or with a "*." wildcard for subdomains, maybe with a port', () => {
  const filter = HostFilter.parse(['db-1.internal, *.monitoring.example', 'cache.example.:6379']);
  assert.deepEqual(filter.names, ['db-1.internal', '*.monitoring.example', 'cache.example:6379']);
  assert.equal(filter.matchesName('db-1.internal', 5432), true);
  assert.equal(filter.matchesName('DB-1.Internal.', 5432), true, 'DNS names are case-insensitive');
  assert.equal(filter.matchesName('db-10.internal', 5432), false);
  assert.equal(filter.matchesName('prom.monitoring.example', 9100), true);
  assert.equal(filter.matchesName('a.b.monitoring.example', 9100), true);
  assert.equal(filter.matchesName('monitoring.example', 9100), false, 'only subdomains');
  assert.equal(filter.matchesName('xmonitoring.example', 9100), false);
  assert.equal(filter.matchesName('cache.example', 6379), true);
  assert.equal(filter.matchesName('cache.example', 6380), false, 'only that port of that name');
  // Names never match addresses: they are matched after resolution.
  assert.equal(filter.matches('192.0.2.7', 80), false);
});

test('an empty list matches nothing', () => {
  const filter = HostFilter.parse(['', ' , ']);
  assert.equal(filter.matches('192.0.2.1', 1), false);
  assert.equal(filter.matchesName('db-1.internal', 1), false);
  assert.deepEqual(filter.names, []);
});

test('each malformed entry is refused with a message naming it', () => {
  const bad = [
    '192.0.2.0/33',
    '2001:db8::/129',
    '192.0.2.0/',
    '192.0.2.0/-1',
    'not-an-ip/8',
    '192.0.2.1:0',
    '192.0.2.1:70000',
    '192.0.2.256',
    '[2001:db8::1]',
    '2001:db8::1:443:x',
    'db-1.internal:0',
    '[db-1.internal]:443',
    'db_1..internal',
    '-db.internal',
    '*.',
    'a.*.internal',
  ];
  for (const text of bad) {
    assert.throws(
      () => HostFilter.parse([text]),
      (error: unknown) =>
        error instanceof UsageError &&
        error.message.includes(`'${text}'`) &&
        error.message.startsWith('--ignore-hosts'),
      text,
    );
  }
});
