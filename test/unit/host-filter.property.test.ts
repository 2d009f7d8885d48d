/**
 * --ignore-hosts on arbitrary input: a filter or one UsageError, never
 * another exception or a hang; and CIDR networks that match exactly the
 * addresses inside them.
 */
import assert from 'node:assert/strict';
import test from 'node:test';

import fc from 'fast-check';

import { UsageError } from '../../src/errors';
import { HostFilter } from '../../src/model/host-filter';

/** Characters that the grammar cares about, so that random text gets near valid entries. */
const entryLike = fc.string({
  unit: fc.constantFrom(...'0123456789abcdef.:/[]*-_, xyz'.split('')),
  maxLength: 60,
});
const anyText = fc.oneof(entryLike, fc.string({ unit: 'binary', maxLength: 200 }));

function parseOrRefuse(list: string[], oneLine = true): HostFilter | undefined {
  try {
    return HostFilter.parse(list);
  } catch (error) {
    assert.ok(error instanceof UsageError, String(error));
    if (oneLine) assert.ok(!error.message.includes('\n'), 'one line');
    assert.match(error.message, /^--ignore-hosts: '/);
    return undefined;
  }
}

// Found by the property below: an entry holding a line break (from a config
// file or an environment variable) used to be echoed as it was.
test('an entry with a line break is refused in one line', () => {
  parseOrRefuse(['192.0.2.1\n/8']);
});

test('arbitrary lists: a filter or one UsageError; a filter answers any question', () => {
  fc.assert(
    fc.property(
      fc.array(anyText, { maxLength: 4 }),
      fc.oneof(fc.ipV4(), fc.ipV6(), anyText),
      fc.integer({ min: 0, max: 70_000 }),
      (list, address, port) => {
        const filter = parseOrRefuse(list);
        if (filter === undefined) return;
        assert.equal(typeof filter.matches(address, port), 'boolean');
        assert.equal(typeof filter.matchesName(address, port), 'boolean');
      },
    ),
    { numRuns: 3000 },
  );
});

test('long near-miss names finish (no catastrophic backtracking)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5000 }),
      fc.constantFrom('-', '!', '.-', '_.', ':99999', '/8'),
      (length, tail) => {
        parseOrRefuse([`${'a-'.repeat(length)}${tail}`]);
        parseOrRefuse([`*.${'ab.'.repeat(length)}${tail}`]);
      },
    ),
    { numRuns: 200 },
  );
});

const ipv4ToInt = (text: string) =>
  text.split('.').reduce((sum, part) => sum * 256 + Number(part), 0);
const intToIpv4 = (value: number) =>
  [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');

test('an IPv4 network matches the addresses inside it and no other', () => {
  fc.assert(
    fc.property(fc.ipV4(), fc.integer({ min: 0, max: 32 }), fc.nat(), (text, prefix, seed) => {
      const address = ipv4ToInt(text);
      const size = 2 ** (32 - prefix);
      const network = address - (address % size);
      const filter = HostFilter.parse([`${intToIpv4(network)}/${prefix}`]);
      assert.equal(filter.matches(intToIpv4(network + (seed % size)), 1), true);
      if (prefix > 0) {
        const outside = (network + size + (seed % size)) % 2 ** 32;
        assert.equal(filter.matches(intToIpv4(outside), 1), false);
      }
    }),
    { numRuns: 2000 },
  );
});

const groups = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 });
const toIpv6 = (parts: number[]) => parts.map((part) => part.toString(16)).join(':');
const ipv6ToBigInt = (parts: number[]) =>
  parts.reduce((sum, part) => (sum << 16n) | BigInt(part), 0n);
const bigIntToIpv6 = (value: bigint) =>
  toIpv6(Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn)));

test('an IPv6 network matches the addresses inside it and no other', () => {
  fc.assert(
    fc.property(
      groups,
      fc.integer({ min: 1, max: 128 }),
      fc.bigInt({ min: 0n }),
      (parts, prefix, seed) => {
        const size = 1n << BigInt(128 - prefix);
        const network = ipv6ToBigInt(parts) - (ipv6ToBigInt(parts) % size);
        const filter = HostFilter.parse([`${bigIntToIpv6(network)}/${prefix}`]);
        assert.equal(filter.matches(bigIntToIpv6(network + (seed % size)), 1), true);
        const outside = (network + size + (seed % size)) % (1n << 128n);
        assert.equal(filter.matches(bigIntToIpv6(outside), 1), false);
      },
    ),
    { numRuns: 2000 },
  );
});

test('address:port matches that port of that address only', () => {
  fc.assert(
    fc.property(
      fc.ipV4(),
      fc.integer({ min: 1, max: 65535 }),
      fc.integer({ min: 1, max: 65535 }),
      (address, port, other) => {
        const filter = HostFilter.parse([`${address}:${port}`]);
        assert.equal(filter.matches(address, port), true);
        assert.equal(filter.matches(address, other), other === port);
      },
    ),
  );
});
