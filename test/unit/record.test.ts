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
// Wall-clock nanoseconds before and after the entries were made.
const times = JSON.parse(readFileSync(path.join(fixtures, 'dump.times.json'), 'utf8')) as {
  inserted: [string, string];
  connected: { sport: number; before: string; after: string }[];
};

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
  const [packets, replyPackets] = values('packets').map(BigInt);
  const [bytes, replyBytes] = values('bytes').map(BigInt);
  return {
    counters: {
      original: { packets, bytes },
      reply: { packets: replyPackets, bytes: replyBytes },
    },
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
  assert.equal(entries.length, 14, 'the UDP entry of the fixture is not dumped');
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
    assert.deepEqual(entry.counters, expected.counters);
    const made = times.connected.find(({ sport }) => sport === expected.original.srcPort);
    const [from, to] = made ? [made.before, made.after] : times.inserted;
    // The kernel stamps an entry when it is made; the clock read around it
    // in milliseconds, hence the millisecond either side.
    const ms = 1_000_000n;
    assert.ok(
      entry.startNs !== undefined &&
        entry.startNs >= BigInt(from) - ms &&
        entry.startNs <= BigInt(to) + ms,
      `start ${entry.startNs} within [${from}, ${to}]`,
    );
  }
});

test('the recorded connections carried data: their counters are the exchanges', () => {
  const entries = decodeRecords(toArrayBuffer(recorded));
  const connected = entries.filter((entry) =>
    times.connected.some(({ sport }) => sport === entry.original.srcPort),
  );
  // 1000 and 3000 bytes echoed, IPv4 and IPv6: handshake, data, echo and
  // ACKs, as the kernel counted them (headers included).
  assert.deepEqual(
    connected
      .map((entry) => [entry.family, entry.counters])
      .sort(([a], [b]) => Number(a) - Number(b)),
    [
      [4, { original: { packets: 4n, bytes: 1216n }, reply: { packets: 3n, bytes: 1164n } }],
      [6, { original: { packets: 4n, bytes: 3296n }, reply: { packets: 3n, bytes: 3224n } }],
    ],
  );
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
