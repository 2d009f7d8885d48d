import assert from 'node:assert/strict';
import test from 'node:test';

import type { ConntrackEvent, ConntrackEventType } from '../../src/conntrack/events';
import { ASSURED, ConntrackEntry, SEEN_REPLY, TcpState } from '../../src/conntrack/types';
import { AggregateOptions } from '../../src/model/classify';
import { bucketKinds } from '../../src/model/histogram';
import {
  CONNECT_BUCKETS,
  failureOf,
  LIFETIME_BUCKETS,
  LinkHealth,
} from '../../src/model/link-health';
import { LiveTable } from '../../src/model/live-table';
import { toSeries } from '../../src/model/series';
import { tcpEntry } from '../helpers/entry';

const HERE = '192.0.2.1';
const DB = '198.51.100.5';
const OPTIONS: AggregateOptions = { localAddresses: new Set([HERE]), ownPort: 9318 };
const ROOM = { maxHosts: 10, maxPortsPerHost: 10 };

const entry = (
  id: number,
  state: TcpState | undefined,
  status = 0,
  extra: Partial<ConntrackEntry> = {},
): ConntrackEntry => ({
  ...tcpEntry(id, state, [HERE, 40000 + id], [DB, 5432]),
  status,
  ...extra,
});
const ev = (type: ConntrackEventType, e: ConntrackEntry): ConntrackEvent => ({ type, entry: e });
const OPEN = SEEN_REPLY | ASSURED;

test('failures from the state an event carries, the state known before, and ASSURED', () => {
  const { SynSent, SynRecv, Established, FinWait, LastAck, TimeWait, Close } = TcpState;
  const cases: [string, ConntrackEvent, TcpState | undefined, string | undefined][] = [
    ['reset answering the SYN', ev('destroy', entry(1, Close)), SynSent, 'refused'],
    [
      'reset answering the SYN, as an update',
      ev('update', entry(1, Close, SEEN_REPLY)),
      SynSent,
      'refused',
    ],
    ['a reset after SYN_RECV', ev('update', entry(1, Close, SEEN_REPLY)), SynRecv, 'refused'],
    ['expired while SYN_SENT', ev('destroy', entry(1, SynSent)), SynSent, 'timeout'],
    ['expired in SYN_RECV', ev('destroy', entry(1, SynRecv, SEEN_REPLY)), SynRecv, 'timeout'],
    [
      'a DESTROY without state, known opening',
      ev('destroy', entry(1, undefined)),
      SynSent,
      'timeout',
    ],
    ['reset while established', ev('update', entry(1, Close, OPEN)), Established, 'reset'],
    ['reset after a FIN', ev('update', entry(1, Close, OPEN)), FinWait, 'reset'],
    ['reset in TIME_WAIT', ev('update', entry(1, Close, OPEN)), TimeWait, undefined],
    ['the DESTROY after a reset', ev('destroy', entry(1, Close, OPEN)), Close, undefined],
    ['the DESTROY after a refusal', ev('destroy', entry(1, Close)), Close, undefined],
    ['a clean close', ev('update', entry(1, TimeWait, OPEN)), LastAck, undefined],
    ['the DESTROY of a clean close', ev('destroy', entry(1, TimeWait, OPEN)), TimeWait, undefined],
    [
      'an assured CLOSE of a connection never seen',
      ev('update', entry(1, Close, OPEN)),
      undefined,
      undefined,
    ],
    ['established', ev('update', entry(1, Established, OPEN)), SynRecv, undefined],
  ];
  for (const [what, event, known, expected] of cases) {
    assert.equal(failureOf(event, known), expected, what);
  }
});

/** The table keeps starts in hundredths of a second: lifetimes are as exact as that. */
function assertLifetimes(
  values: { sum: number; count: number } | undefined,
  sum: number,
  count: number,
) {
  assert.ok(values !== undefined);
  assert.equal(values.count, count);
  assert.ok(Math.abs(values.sum - sum) < 0.01, `${values.sum} s, not ${sum} s`);
}

/** A table and link health fed as LiveSync feeds them: the hook first, then the table. */
function setUp() {
  let now = 1_000_000;
  const table = new LiveTable(OPTIONS, () => now);
  const health = new LinkHealth({ classification: () => OPTIONS, now: () => now });
  const send = (type: ConntrackEventType, e: ConntrackEntry, atMs = now) => {
    const event = ev(type, e);
    health.onEvent(event, table.knownOf(e), atMs);
    table.apply(event);
  };
  const scrape = () => {
    health.flush();
    const { mapping } = toSeries(table.snapshot(), ROOM);
    return {
      failures: health.failures.fold(mapping),
      lifetimes: health.lifetimes.fold(mapping),
      connect: health.connectTimes.counters.fold(mapping),
      byPort: health.lifetimesByPort.counters.fold(mapping),
    };
  };
  return { table, health, send, scrape, advance: (ms: number) => (now += ms) };
}

test('a connection seen opening: its connect time, then its lifetime up to TIME_WAIT', () => {
  const { send, scrape, advance } = setUp();
  send('new', entry(1, TcpState.SynSent));
  advance(1_200);
  send('update', entry(1, TcpState.SynRecv, SEEN_REPLY));
  advance(3);
  send('update', entry(1, TcpState.Established, OPEN));
  advance(500);
  send('update', entry(1, TcpState.FinWait, OPEN));
  send('update', entry(1, TcpState.TimeWait, OPEN));
  advance(120_000);
  send('destroy', entry(1, TcpState.TimeWait, OPEN));
  const { failures, lifetimes, connect, byPort } = scrape();
  // A clean close is no failure.
  assert.deepEqual(failures, []);
  assert.equal(lifetimes.length, 1);
  assertLifetimes(lifetimes[0]?.values, 1.703, 1);
  assert.equal(connect.length, 1);
  const times = connect[0]!;
  assert.deepEqual([times.host, times.port, times.direction], ['', 5432, 'outbound']);
  // 1.203 s: one SYN retransmitted; in the bucket up to 1.5 s.
  assert.equal(times.values[bucketKinds(CONNECT_BUCKETS)[CONNECT_BUCKETS.indexOf(1.5)]!], 1);
  assert.equal(times.values.count, 1);
  assert.equal(times.values.sum, 1.203);
  assert.equal(byPort[0]?.values[bucketKinds(LIFETIME_BUCKETS)[LIFETIME_BUCKETS.indexOf(10)]!], 1);
});

test('no connect time nor lifetime for a connection not seen opening', () => {
  const { table, send, scrape } = setUp();
  // Found by a read of the table, without a kernel timestamp: its start is unknown.
  table.replace([entry(1, TcpState.SynSent)], []);
  send('update', entry(1, TcpState.Established, OPEN));
  send('update', entry(1, TcpState.Close, OPEN));
  const { failures, lifetimes, connect } = scrape();
  assert.deepEqual(connect, []);
  assert.deepEqual(lifetimes, []);
  assert.deepEqual(
    failures.map((s) => s.values),
    [{ refused: 0, timeout: 0, reset: 1 }],
  );
});

test('a kernel timestamp from a read gives the start of a lifetime', () => {
  const { table, send, scrape } = setUp();
  const startNs = BigInt(1_000_000 - 90_000) * 1_000_000n;
  table.replace([entry(1, TcpState.Established, OPEN, { startNs })], []);
  send('update', entry(1, TcpState.Close, OPEN));
  assertLifetimes(scrape().lifetimes[0]?.values, 90, 1);
});

test('each failure counts once: refused, reset, and an attempt that timed out', () => {
  const { send, scrape, advance } = setUp();
  send('new', entry(1, TcpState.SynSent));
  send('destroy', entry(1, TcpState.Close));
  send('new', entry(2, TcpState.SynSent));
  send('update', entry(2, TcpState.Established, OPEN));
  send('update', entry(2, TcpState.Close, OPEN));
  advance(10_000);
  send('destroy', entry(2, TcpState.Close, OPEN));
  send('new', entry(3, TcpState.SynSent));
  advance(120_000);
  send('destroy', entry(3, TcpState.SynSent));
  const { failures, lifetimes } = scrape();
  assert.deepEqual(
    failures.map((s) => s.values),
    [{ refused: 1, timeout: 1, reset: 1 }],
  );
  // Only the connection that was established lived.
  assertLifetimes(lifetimes[0]?.values, 0, 1);
});

test('starts of connects whose end never came are forgotten after the retention', () => {
  const { health, send, scrape, advance } = setUp();
  send('new', entry(1, TcpState.SynSent));
  advance(3_600_001);
  health.prune(1_000_000 + 3_600_001);
  send('update', entry(1, TcpState.Established, OPEN));
  assert.deepEqual(scrape().connect, []);
});
