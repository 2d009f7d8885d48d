import assert from 'node:assert/strict';
import test from 'node:test';

import { DnsCache, reverseName } from '../../src/model/dns-cache';

const TTL = 300_000;
const NEGATIVE_TTL = 60_000;

/** A DNS server the test answers by hand: every lookup waits until told. */
class FakeDns {
  readonly asked: string[] = [];
  running = 0;
  maxRunning = 0;
  private readonly open = new Map<
    string,
    { resolve(names: string[]): void; reject(e: Error): void }
  >();

  readonly lookup = (address: string): Promise<string[]> => {
    this.asked.push(address);
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    return new Promise((resolve, reject) => {
      this.open.set(address, { resolve, reject });
    }).finally(() => this.running--) as Promise<string[]>;
  };

  async answer(address: string, names: string[]): Promise<void> {
    (await this.take(address)).resolve(names);
    await settle();
  }

  async fail(address: string, code: string): Promise<void> {
    (await this.take(address)).reject(Object.assign(new Error(code), { code }));
    await settle();
  }

  private async take(address: string) {
    // Lookups start a moment after they are asked for.
    await settle();
    const pending = this.open.get(address);
    assert.ok(pending, `no lookup of ${address} is running`);
    this.open.delete(address);
    return pending;
  }
}

/** Lets the cache's promise callbacks run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function setup(maxInFlight = 16) {
  const dns = new FakeDns();
  const clock = { now: 1_000_000 };
  const cache = new DnsCache({
    lookup: dns.lookup,
    ttlMs: TTL,
    negativeTtlMs: NEGATIVE_TTL,
    maxInFlight,
    now: () => clock.now,
  });
  return { dns, clock, cache };
}

test('a name is looked up once, then served from the cache until its TTL', async () => {
  const { dns, clock, cache } = setup();
  const done = cache.refresh(['198.51.100.1']);
  assert.equal(cache.nameOf('198.51.100.1'), undefined, 'not known before the answer');
  await dns.answer('198.51.100.1', ['db-1.internal.', 'alias.internal.']);
  await done;
  assert.equal(cache.nameOf('198.51.100.1'), 'db-1.internal', 'the first name, without the dot');

  clock.now += TTL - 1;
  await cache.refresh(['198.51.100.1']);
  assert.deepEqual(dns.asked, ['198.51.100.1']);
  assert.equal(cache.stats.hits, 1);
  assert.equal(cache.stats.lookups, 1);
  assert.equal(cache.size, 1);
});

test('past its TTL a name is still used while it is looked up again, then replaced', async () => {
  const { dns, clock, cache } = setup();
  const first = cache.refresh(['198.51.100.1']);
  await dns.answer('198.51.100.1', ['old.internal']);
  await first;

  clock.now += TTL;
  const second = cache.refresh(['198.51.100.1']);
  assert.equal(cache.nameOf('198.51.100.1'), 'old.internal', 'no flap to the address');
  await dns.answer('198.51.100.1', ['new.internal']);
  await second;
  assert.equal(cache.nameOf('198.51.100.1'), 'new.internal');
  assert.equal(cache.stats.lookups, 2);
});

test('of several names, the one in use stays while it is still among them', async () => {
  const { dns, clock, cache } = setup();
  const first = cache.refresh(['198.51.100.1']);
  await dns.answer('198.51.100.1', ['b.internal', 'a.internal']);
  await first;
  clock.now += TTL;
  const second = cache.refresh(['198.51.100.1']);
  await dns.answer('198.51.100.1', ['a.internal', 'b.internal']);
  await second;
  assert.equal(cache.nameOf('198.51.100.1'), 'b.internal');
});

test('a name that does not exist is remembered for the negative TTL', async () => {
  const { dns, clock, cache } = setup();
  const first = cache.refresh(['198.51.100.9']);
  await dns.fail('198.51.100.9', 'ENOTFOUND');
  await first;
  assert.equal(cache.nameOf('198.51.100.9'), undefined);
  assert.equal(cache.stats.failures.not_found, 1);

  clock.now += NEGATIVE_TTL - 1;
  await cache.refresh(['198.51.100.9']);
  assert.equal(dns.asked.length, 1, 'not asked again yet');
  assert.equal(cache.stats.hits, 1);

  clock.now += 1;
  const again = cache.refresh(['198.51.100.9']);
  await settle();
  assert.equal(dns.asked.length, 2);
  await dns.answer('198.51.100.9', ['late.internal']);
  await again;
  assert.equal(cache.nameOf('198.51.100.9'), 'late.internal');
});

test('NXDOMAIN removes a known name; a timeout or server failure keeps it', async () => {
  const { dns, clock, cache } = setup();
  const addresses = ['198.51.100.1', '198.51.100.2', '198.51.100.3'];
  const first = cache.refresh(addresses);
  for (const [i, address] of addresses.entries()) await dns.answer(address, [`host-${i}.internal`]);
  await first;

  clock.now += TTL;
  const second = cache.refresh(addresses);
  await dns.fail('198.51.100.1', 'ENOTFOUND');
  await dns.fail('198.51.100.2', 'ETIMEOUT');
  await dns.fail('198.51.100.3', 'ESERVFAIL');
  await second;
  assert.equal(cache.nameOf('198.51.100.1'), undefined);
  assert.equal(cache.nameOf('198.51.100.2'), 'host-1.internal');
  assert.equal(cache.nameOf('198.51.100.3'), 'host-2.internal');
  assert.deepEqual(cache.stats.failures, { not_found: 1, timeout: 1, error: 1 });

  // A kept name is checked again after the negative TTL, not the full TTL.
  clock.now += NEGATIVE_TTL;
  void cache.refresh(['198.51.100.2']);
  await settle();
  assert.equal(dns.asked.at(-1), '198.51.100.2');
  assert.equal(dns.asked.length, 7);
});

test('an empty answer counts as no name', async () => {
  const { dns, cache } = setup();
  const done = cache.refresh(['198.51.100.1']);
  await dns.answer('198.51.100.1', []);
  await done;
  assert.equal(cache.nameOf('198.51.100.1'), undefined);
  assert.equal(cache.stats.failures.not_found, 1);
});

test('at most max-inflight lookups run at once; the others wait their turn', async () => {
  const { dns, cache } = setup(2);
  const addresses = ['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4'];
  const done = cache.refresh(addresses);
  await settle();
  assert.deepEqual(dns.asked, ['198.51.100.1', '198.51.100.2']);
  // Asking again while they wait starts nothing new.
  void cache.refresh(addresses);
  await settle();
  assert.equal(dns.asked.length, 2);
  for (const address of addresses) await dns.answer(address, [`n${address.slice(-1)}.internal`]);
  await done;
  assert.equal(dns.maxRunning, 2);
  assert.equal(cache.stats.lookups, 4);
  assert.deepEqual(
    addresses.map((address) => cache.nameOf(address)),
    ['n1.internal', 'n2.internal', 'n3.internal', 'n4.internal'],
  );
});

test('a scrape waits for names at most its budget; late answers name the next scrape', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { dns, cache } = setup();
  let returned = false;
  const scrape = cache.refreshWithin(['198.51.100.1'], 250).then(() => {
    returned = true;
  });
  t.mock.timers.tick(249);
  await settle();
  assert.equal(returned, false);
  t.mock.timers.tick(1);
  await scrape;
  assert.equal(cache.nameOf('198.51.100.1'), undefined, 'the scrape uses the address');

  await dns.answer('198.51.100.1', ['slow.internal']);
  assert.equal(cache.nameOf('198.51.100.1'), 'slow.internal');
});

test('a scrape whose names come back within the budget does not wait for the rest of it', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { dns, cache } = setup();
  const scrape = cache.refreshWithin(['198.51.100.1'], 250);
  await dns.answer('198.51.100.1', ['fast.internal']);
  await scrape; // would hang: the mocked clock never reaches 250 ms
  assert.equal(cache.nameOf('198.51.100.1'), 'fast.internal');
});

test('addresses nobody asked for within a TTL are forgotten', async () => {
  const { dns, clock, cache } = setup();
  const first = cache.refresh(['198.51.100.1', '198.51.100.2']);
  await dns.answer('198.51.100.1', ['a.internal']);
  await dns.answer('198.51.100.2', ['b.internal']);
  await first;
  clock.now += TTL / 2;
  await cache.refresh(['198.51.100.1']);
  clock.now += TTL / 2 + 1;
  const last = cache.refresh(['198.51.100.1']);
  assert.equal(cache.size, 1);
  assert.equal(cache.nameOf('198.51.100.2'), undefined);
  assert.equal(cache.nameOf('198.51.100.1'), 'a.internal');
  await dns.answer('198.51.100.1', ['a.internal']);
  await last;
});

test('reverse names of IPv4 and IPv6 addresses', () => {
  assert.equal(reverseName('198.51.100.7'), '7.100.51.198.in-addr.arpa');
  assert.equal(
    reverseName('2001:db8::567:89ab'),
    'b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa',
  );
});
