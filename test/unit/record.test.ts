import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';

import { decodeRecords, RECORD_SIZE, RecordFormatError } from '../../src/conntrack/record';
import { stateName } from '../../src/model/tcp-state';

// A real dump (test/fixtures/record-dump.sh) and `conntrack -L` of the same table.
const fixtures = path.join(__dirname, '..', 'fixtures');
const recorded = readFileSync(path.join(fixtures, 'dump.bin'));
const listing = readFileSync(path.join(fixtures, 'dump.conntrack.txt'), 'utf8').trim().split('\n');

function toArrayBuffer(buffer: Buffer): ArrayBuffer {
  return buffer.buffer.slice(
    buffer.byteOffset,
    buffer.byteOffset + buffer.byteLength,
  ) as ArrayBuffer;
}

/** The fields of one `conntrack -L -o extended,id` line. */
function parseListingLine(line: string) {
  const fields = line.split(/\s+/);
  const values = (key: string) =>
    fields.filter((f) => f.startsWith(`${key}=`)).map((f) => f.slice(key.length + 1));
  const [src, replySrc] = values('src');
  const [dst, replyDst] = values('dst');
  const [sport, replySport] = values('sport').map(Number);
  const [dport, replyDport] = values('dport').map(Number);
  return {
    family: fields[0] === 'ipv6' ? 6 : 4,
    timeout: Number(fields[4]),
    state: fields[5],
    original: { src, dst, srcPort: sport, dstPort: dport },
    reply: { src: replySrc, dst: replyDst, srcPort: replySport, dstPort: replyDport },
    mark: Number(values('mark')[0]),
    zone: Number(values('zone')[0] ?? 0),
    id: Number(values('id')[0]),
    assured: line.includes('[ASSURED]'),
    unreplied: line.includes('[UNREPLIED]'),
  };
}

test('decodes every field of a recorded dump as the kernel CLI lists it', () => {
  const entries = decodeRecords(toArrayBuffer(recorded));
  assert.equal(entries.length, listing.length);
  assert.equal(entries.length, 12, 'the UDP entry of the fixture is not dumped');
  const byId = new Map(entries.map((entry) => [entry.id, entry]));
  for (const line of listing) {
    const expected = parseListingLine(line);
    const entry = byId.get(expected.id);
    assert.ok(entry, `entry ${expected.id} decoded`);
    assert.equal(entry.family, expected.family);
    assert.equal(stateName(entry.tcpState), expected.state);
    assert.deepEqual(entry.original, expected.original);
    assert.deepEqual(entry.reply, expected.reply);
    assert.equal(entry.mark, expected.mark);
    assert.equal(entry.zone, expected.zone);
    // The listing was taken a moment after the dump.
    assert.ok(Math.abs(entry.timeout - expected.timeout) <= 2, `timeout ${entry.timeout}`);
    const IPS_SEEN_REPLY = 1 << 1;
    const IPS_ASSURED = 1 << 2;
    assert.equal((entry.status & IPS_ASSURED) !== 0, expected.assured);
    assert.equal((entry.status & IPS_SEEN_REPLY) === 0, expected.unreplied);
    // The fixture was recorded with nf_conntrack_acct and nf_conntrack_timestamp on.
    assert.deepEqual(entry.counters, {
      original: { packets: 0n, bytes: 0n },
      reply: { packets: 0n, bytes: 0n },
    });
    assert.equal(typeof entry.startNs, 'bigint');
  }
});

test('an empty dump decodes to no entries', () => {
  assert.deepEqual(decodeRecords(new ArrayBuffer(0)), []);
});

test('a buffer that is not whole records is refused, not misread', () => {
  assert.throws(
    () => decodeRecords(new ArrayBuffer(RECORD_SIZE + 1)),
    (error: unknown) =>
      error instanceof RecordFormatError && /not a whole number/.test(String(error)),
  );
});

test('a record with an unknown address family is refused', () => {
  const buffer = new ArrayBuffer(RECORD_SIZE);
  new Uint8Array(buffer)[0] = 5;
  assert.throws(() => decodeRecords(buffer), RecordFormatError);
});

test('counters and timestamp are absent when the kernel did not send them', () => {
  const copy = Buffer.from(recorded.subarray(0, RECORD_SIZE));
  copy[2] = 0; // flags
  const [entry] = decodeRecords(toArrayBuffer(copy));
  assert.ok(entry);
  assert.equal(entry.counters, undefined);
  assert.equal(entry.startNs, undefined);
});
