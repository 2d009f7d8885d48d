/**
 * The record decoder on arbitrary bytes: a list of entries or a
 * RecordFormatError, never another exception; and for well-framed records,
 * entries whose every field is in range.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import test from 'node:test';

import fc from 'fast-check';

import { decodeRecords, RECORD_SIZE, RecordFormatError } from '../../src/conntrack/record';
import { canonicalIp } from '../../src/model/ip';

const toArrayBuffer = (bytes: Uint8Array): ArrayBuffer =>
  bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;

// Where the four addresses of a record are (native/record.h).
const ADDRESS_OFFSETS = [32, 48, 64, 80];

/**
 * The 16 bytes of an IPv6 address that has what formatting must get right
 * often, not once in 2^32 tries: runs of zero groups (of every length, and
 * several runs to choose between), the all-zero and loopback addresses, and
 * IPv4-mapped ones.
 */
const ipv6Bytes = fc
  .oneof(
    fc.array(
      fc.oneof(
        { weight: 3, arbitrary: fc.constant(0) },
        { weight: 2, arbitrary: fc.integer({ min: 1, max: 0xffff }) },
      ),
      { minLength: 8, maxLength: 8 },
    ),
    fc
      .tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }))
      .map(([high, low]) => [0, 0, 0, 0, 0, 0xffff, high, low]),
    fc.constantFrom([0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 1]),
  )
  .map((groups) => {
    const bytes = new Uint8Array(16);
    groups.forEach((group, i) => {
      bytes[2 * i] = group >> 8;
      bytes[2 * i + 1] = group & 0xff;
    });
    return bytes;
  });

/**
 * The text RFC 5952 gives the address, worked out apart from the decoder:
 * the WHATWG URL parser's IPv6 serializer is RFC 5952's, but for mapped
 * addresses, which RFC 5952 writes with a dotted quad.
 */
function rfc5952(bytes: Uint8Array): string {
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return `::ffff:${[...bytes.subarray(12)].join('.')}`;
  }
  const groups = Array.from({ length: 8 }, (_, i) =>
    ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16),
  );
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** A record of random bytes whose family byte says IPv4 or IPv6, and whose IPv6 addresses are likely to have zero groups or be mapped. */
const framedRecord = fc
  .tuple(
    fc.uint8Array({ minLength: RECORD_SIZE, maxLength: RECORD_SIZE }),
    fc.constantFrom(4, 6),
    fc.array(ipv6Bytes, { minLength: 4, maxLength: 4 }),
  )
  .map(([bytes, family, addresses]) => {
    bytes[0] = family;
    if (family === 6) addresses.forEach((address, i) => bytes.set(address, ADDRESS_OFFSETS[i]));
    return bytes;
  });

/** Whole records, or whole records with a few bytes more or less: mostly valid input. */
const recordBuffers = fc
  .tuple(fc.array(framedRecord, { maxLength: 4 }), fc.integer({ min: -3, max: 3 }))
  .map(([records, change]) => {
    const buffer = new Uint8Array(Math.max(0, records.length * RECORD_SIZE + change));
    records.forEach((record, i) =>
      buffer.set(record.subarray(0, buffer.length - i * RECORD_SIZE), i * RECORD_SIZE),
    );
    return buffer;
  });

test('arbitrary bytes: entries or a RecordFormatError', () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.uint8Array({ maxLength: RECORD_SIZE * 4 + 3 }), recordBuffers),
      (bytes) => {
        try {
          const entries = decodeRecords(toArrayBuffer(bytes));
          assert.equal(entries.length * RECORD_SIZE, bytes.length);
        } catch (error) {
          assert.ok(error instanceof RecordFormatError, String(error));
        }
      },
    ),
    { numRuns: 2000 },
  );
});

test('framed records always decode, every field in range', () => {
  fc.assert(
    fc.property(fc.array(framedRecord, { maxLength: 8 }), (records) => {
      const buffer = new Uint8Array(records.length * RECORD_SIZE);
      records.forEach((record, i) => buffer.set(record, i * RECORD_SIZE));
      const entries = decodeRecords(toArrayBuffer(buffer));
      assert.equal(entries.length, records.length);
      entries.forEach((entry, i) => {
        const flags = records[i]![2]!;
        assert.equal(entry.family, records[i]![0]);
        for (const tuple of [entry.original, entry.reply]) {
          for (const address of [tuple.src, tuple.dst]) {
            assert.equal(net.isIP(address), entry.family, address);
          }
        }
        if (entry.family === 6) {
          const addresses = [
            entry.original.src,
            entry.original.dst,
            entry.reply.src,
            entry.reply.dst,
          ];
          assert.deepEqual(
            addresses,
            ADDRESS_OFFSETS.map((offset) => rfc5952(records[i]!.subarray(offset, offset + 16))),
          );
        }
        for (const tuple of [entry.original, entry.reply]) {
          for (const port of [tuple.srcPort, tuple.dstPort]) {
            assert.ok(Number.isInteger(port) && port >= 0 && port <= 65535);
          }
        }
        assert.ok(entry.tcpState === undefined || (entry.tcpState >= 0 && entry.tcpState < 255));
        assert.equal(entry.counters !== undefined, (flags & 1) !== 0);
        assert.equal(entry.startNs !== undefined, (flags & 2) !== 0);
        for (const value of [entry.status, entry.mark, entry.id, entry.timeout]) {
          assert.ok(Number.isInteger(value) && value >= 0 && value <= 0xffffffff);
        }
      });
    }),
    { numRuns: 1000 },
  );
});

// Node's inet_ntop writes an address whose first 96 bits are zero in the
// deprecated IPv4-compatible form (::ffff:1234 as ::255.255.18.52);
// canonicalIp must write it as the decoder does, or a local address or an
// --ignore-hosts entry in that range would not match.
test('the decoder and canonicalIp write every IPv6 address alike', () => {
  fc.assert(
    fc.property(ipv6Bytes, (bytes) => {
      const [entry] = decodeRecords(toArrayBuffer(recordWith(bytes)));
      assert.equal(canonicalIp(entry!.original.src), entry!.original.src);
    }),
    { numRuns: 1000 },
  );
});

/** A well-framed IPv6 record whose original source address is `address`. */
function recordWith(address: Uint8Array): Uint8Array {
  const record = new Uint8Array(RECORD_SIZE);
  record[0] = 6;
  record.set(address, ADDRESS_OFFSETS[0]);
  return record;
}

test('the generated addresses reach what they are for', () => {
  // Not a property: a check that the generator makes the cases above often.
  const samples = fc.sample(ipv6Bytes, { numRuns: 1000, seed: 1 }).map(rfc5952);
  const mapped = samples.filter(
    (address) => address.startsWith('::ffff:') && address.includes('.'),
  );
  const compressed = samples.filter(
    (address) => address.includes('::') && !mapped.includes(address),
  );
  assert.ok(mapped.length > 100, `${mapped.length} mapped`);
  assert.ok(compressed.length > 300, `${compressed.length} with a run of zero groups`);
  const valid = fc.sample(recordBuffers, { numRuns: 1000, seed: 1 });
  assert.ok(valid.filter((b) => b.length % RECORD_SIZE === 0 && b.length > 0).length > 100);
});

test('a record with any other family byte is refused, naming its offset', () => {
  fc.assert(
    fc.property(
      framedRecord,
      fc.integer({ min: 0, max: 255 }).filter((family) => family !== 4 && family !== 6),
      (record, family) => {
        const buffer = new Uint8Array(RECORD_SIZE * 2);
        buffer.set(record, 0);
        buffer.set(record, RECORD_SIZE);
        buffer[RECORD_SIZE] = family;
        assert.throws(
          () => decodeRecords(toArrayBuffer(buffer)),
          new RecordFormatError(
            `record at byte ${RECORD_SIZE} has unknown address family ${family}`,
          ),
        );
      },
    ),
  );
});
