import assert from 'node:assert/strict';
import test from 'node:test';

import { formatIPv4, formatIPv6 } from '../../src/conntrack/address';

/** The bytes of a fully written-out IPv6 address, placed at offset 4 to check offsets are honoured. */
function bytesOf(fullForm: string): Uint8Array {
  const bytes = new Uint8Array(20);
  bytes.set(Buffer.from(fullForm.replace(/:/g, ''), 'hex'), 4);
  return bytes;
}

test('IPv6 addresses are written in the RFC 5952 canonical form', () => {
  const cases: [string, string][] = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['0000:0000:0000:0000:0000:0000:0000:0000', '::'],
    ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
    ['2001:0db8:0000:0001:0000:0000:0000:0001', '2001:db8:0:1::1'], // longest run
    ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'], // first of equal runs
    ['2001:0db8:0000:0001:0001:0001:0001:0001', '2001:db8:0:1:1:1:1:1'], // one zero group stays
    ['fe80:0000:0000:0000:0000:0000:0000:0000', 'fe80::'],
    ['2001:0DB8:ABCD:0012:0000:0000:0000:0000', '2001:db8:abcd:12::'],
    ['0000:0000:0000:0000:0000:ffff:c000:0201', '::ffff:192.0.2.1'], // IPv4-mapped
  ];
  for (const [input, expected] of cases) {
    assert.equal(formatIPv6(bytesOf(input), 4), expected, input);
  }
});

test('IPv4 addresses are dotted quads read at the offset', () => {
  assert.equal(formatIPv4(Uint8Array.of(9, 192, 0, 2, 255), 1), '192.0.2.255');
});
