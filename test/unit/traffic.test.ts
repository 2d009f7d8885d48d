import assert from 'node:assert/strict';
import test from 'node:test';

import { ConntrackEntry, TcpState } from '../../src/conntrack/types';
import { AggregateOptions } from '../../src/model/classify';
import { GroupLabels, groupKey } from '../../src/model/group';
import { TrafficCounts, TrafficKind } from '../../src/model/traffic';
import { tcpEntry } from '../helpers/entry';

const HERE = '192.0.2.1';
const OPTIONS: AggregateOptions = { localAddresses: new Set([HERE]), ownPort: 9318 };

/** Sums by "direction host:port kind", as the per-host counters would receive them. */
class Totals {
  readonly sums = new Map<string, number>();
  add(labels: GroupLabels, kind: TrafficKind, amount: number): void {
    assert.ok(amount > 0, 'only increases are added');
    const key = `${groupKey(labels)} ${kind}`;
    this.sums.set(key, (this.sums.get(key) ?? 0) + amount);
  }
  get(labels: string, kind: TrafficKind): number {
    return this.sums.get(`${labels} ${kind}`) ?? 0;
  }
}

function withCounts(
  entry: ConntrackEntry,
  [origPackets, origBytes]: [number, number],
  [replPackets, replBytes]: [number, number],
): ConntrackEntry {
  return {
    ...entry,
    counters: {
      original: { packets: BigInt(origPackets), bytes: BigInt(origBytes) },
      reply: { packets: BigInt(replPackets), bytes: BigInt(replBytes) },
    },
  };
}

const outbound = (id: number, port = 40000) =>
  tcpEntry(id, TcpState.Established, [HERE, port], ['198.51.100.5', 5432]);
const inbound = (id: number) =>
  tcpEntry(id, TcpState.Established, ['203.0.113.9', 50000], [HERE, 443]);
const DB = 'outbound|198.51.100.5|5432';
const WEB = 'inbound|203.0.113.9|443';

function setup() {
  const totals = new Totals();
  const counts = new TrafficCounts(totals, () => OPTIONS);
  const read = (...entries: ConntrackEntry[]) => {
    counts.readStarted();
    counts.applyRead(entries);
  };
  return { totals, counts, read };
}

test('the first read is the baseline; later reads add only what moved since', () => {
  const { totals, read } = setup();
  read(withCounts(outbound(1), [10, 1000], [8, 500]));
  assert.equal(totals.sums.size, 0);
  read(withCounts(outbound(1), [15, 3000], [10, 900]));
  assert.equal(totals.get(DB, 'sent_bytes'), 2000);
  assert.equal(totals.get(DB, 'sent_packets'), 5);
  assert.equal(totals.get(DB, 'received_bytes'), 400);
  assert.equal(totals.get(DB, 'received_packets'), 2);
  read(withCounts(outbound(1), [15, 3000], [10, 900]));
  assert.equal(totals.get(DB, 'sent_bytes'), 2000);
});

test('inbound: what the remote host sent is the original direction', () => {
  const { totals, read } = setup();
  read();
  read(withCounts(inbound(3), [4, 300], [6, 7000]));
  assert.equal(totals.get(WEB, 'received_bytes'), 300);
  assert.equal(totals.get(WEB, 'received_packets'), 4);
  assert.equal(totals.get(WEB, 'sent_bytes'), 7000);
  assert.equal(totals.get(WEB, 'sent_packets'), 6);
});

test('a connection first seen after the baseline counts from its start', () => {
  const { totals, read } = setup();
  read(withCounts(outbound(1), [1, 60], [1, 60]));
  read(
    withCounts(outbound(1), [1, 60], [1, 60]),
    withCounts(outbound(2, 40001), [3, 200], [2, 100]),
  );
  assert.equal(totals.get(DB, 'sent_bytes'), 200);
  assert.equal(totals.get(DB, 'received_bytes'), 100);
});

test('a DESTROY adds the final counts less what reads counted; a later read does not count it again', () => {
  const { totals, counts, read } = setup();
  read();
  read(withCounts(outbound(1), [5, 500], [5, 400]));
  counts.ended(withCounts(outbound(1), [9, 900], [7, 450]));
  assert.equal(totals.get(DB, 'sent_bytes'), 900);
  assert.equal(totals.get(DB, 'received_bytes'), 450);
  assert.equal(totals.get(DB, 'sent_packets'), 9);
  assert.equal(counts.size, 0);
  read();
  assert.equal(totals.get(DB, 'sent_bytes'), 900);
});

test('a connection that came and went between reads counts all of its final counts', () => {
  const { totals, counts, read } = setup();
  read();
  counts.ended(withCounts(inbound(4), [3, 180], [2, 2000]));
  assert.equal(totals.get(WEB, 'received_bytes'), 180);
  assert.equal(totals.get(WEB, 'sent_bytes'), 2000);
});

test('a read that still holds a connection that ended while it ran does not count it again', () => {
  const { totals, counts } = setup();
  counts.readStarted();
  counts.applyRead([withCounts(outbound(1), [1, 100], [1, 100])]);
  counts.readStarted();
  counts.ended(withCounts(outbound(1), [4, 800], [2, 300]));
  // The read saw it before it ended, with fewer bytes.
  counts.applyRead([withCounts(outbound(1), [3, 500], [2, 200])]);
  assert.equal(totals.get(DB, 'sent_bytes'), 700);
  assert.equal(totals.get(DB, 'received_bytes'), 200);
  assert.equal(counts.size, 0);
});

test('before the baseline, a DESTROY counts nothing: the connection may be older than the exporter', () => {
  const { totals, counts } = setup();
  counts.readStarted();
  counts.ended(withCounts(outbound(1), [4, 800], [2, 300]));
  counts.applyRead([withCounts(outbound(1), [3, 500], [2, 200])]);
  assert.equal(totals.sums.size, 0);
  assert.equal(counts.size, 0);
});

test('a tuple reused by a new connection counts the new one from zero', () => {
  const { totals, read } = setup();
  read(withCounts(outbound(1), [10, 10_000], [10, 10_000]));
  read(withCounts(outbound(2), [2, 120], [1, 60]));
  assert.equal(totals.get(DB, 'sent_bytes'), 120);
  assert.equal(totals.get(DB, 'received_bytes'), 60);
});

test('entries without counts (accounting off when they opened) count nothing, and are not kept', () => {
  const { totals, counts, read } = setup();
  read(outbound(1));
  read(outbound(1));
  counts.ended(outbound(1));
  assert.equal(totals.sums.size, 0);
  assert.equal(counts.size, 0);
});

test("flows the metrics leave out (the exporter's own port) count nothing", () => {
  const { totals, read } = setup();
  read();
  read(
    withCounts(
      tcpEntry(5, TcpState.Established, ['203.0.113.9', 50000], [HERE, 9318]),
      [9, 900],
      [9, 900],
    ),
  );
  assert.equal(totals.sums.size, 0);
});

test('counts that went back (a read older than a known reading) add nothing', () => {
  const { totals, read } = setup();
  read(withCounts(outbound(1), [10, 1000], [10, 1000]));
  read(withCounts(outbound(1), [9, 900], [11, 1100]));
  assert.equal(totals.get(DB, 'sent_bytes'), 0);
  assert.equal(totals.get(DB, 'received_bytes'), 100);
  read(withCounts(outbound(1), [10, 1000], [11, 1100]));
  assert.equal(totals.get(DB, 'sent_bytes'), 0);
  read(withCounts(outbound(1), [10, 1000], [11, 1100]));
  assert.equal(totals.get(DB, 'sent_bytes'), 0);
});
