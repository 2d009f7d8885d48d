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

/** A record of random bytes whose family byte says IPv4 or IPv6. */
const framedRecord = fc
  .tuple(fc.uint8Array({ minLength: RECORD_SIZE, maxLength: RECORD_SIZE }), fc.constantFrom(4, 6))
  .map(([bytes, family]) => {
    bytes[0] = family;
    return bytes;
  });

test('arbitrary bytes: entries or a RecordFormatError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: RECORD_SIZE * 4 + 3 }), (bytes) => {
      try {
        const entries = decodeRecords(toArrayBuffer(bytes));
        assert.equal(entries.length * RECORD_SIZE, bytes.length);
      } catch (error) {
        assert.ok(error instanceof RecordFormatError, String(error));
      }
    }),
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
            // The decoder's own IPv6 formatting is the canonical one (RFC 5952).
            assert.equal(canonicalIp(address), address);
          }
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
