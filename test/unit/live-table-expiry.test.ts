import assert from 'node:assert/strict';
import test from 'node:test';

import type { ConntrackEvent, ConntrackEventType } from '../../src/conntrack/events';
import { ConntrackEntry, TcpState } from '../../src/conntrack/types';
import { AggregateOptions } from '../../src/model/classify';
import { DueList } from '../../src/model/due-list';
import { entryKey, LiveTable } from '../../src/model/live-table';
import { toSeries } from '../../src/model/series';
import { tcpEntry } from '../helpers/entry';

const HERE = '192.0.2.1';
const OPTIONS: AggregateOptions = { localAddresses: new Set([HERE]), ownPort: 9318 };

const ev = (type: ConntrackEventType, entry: ConntrackEntry): ConntrackEvent => ({ type, entry });

/** A connection from here to a database, in `state`, whose timeout runs out in `timeout` s. */
const db = (id: number, state: TcpState, timeout: number): ConntrackEntry => ({
  ...tcpEntry(id, state, [HERE, 40_000 + id], ['198.51.100.5', 5432]),
  timeout,
});

/** A table on a clock that the test moves. */
function clocked() {
  let nowMs = 1_800_000_000_000;
  const table = new LiveTable(OPTIONS, () => nowMs);
  return {
    table,
    advance(seconds: number) {
      nowMs += seconds * 1000;
    },
  };
}

test('due list: keys come out once their second has come, each time they were added', () => {
  const due = new DueList();
  due.add('a', 10);
  due.add('b', 12);
  due.add('a', 10);
  assert.equal(due.size, 3);
  assert.deepEqual(due.takeUntil(9), []);
  assert.deepEqual(due.takeUntil(11), ['a', 'a']);
  assert.deepEqual(due.takeUntil(11), [], 'taken off the list');
  assert.deepEqual(due.takeUntil(100), ['b']);
  assert.equal(due.size, 0);
});

test('an entry is due once its timeout has run out with no event since, and only once', () => {
  const { table, advance } = clocked();
  const closing = db(1, TcpState.TimeWait, 10);
  table.apply(ev('new', closing));
  // The kernel rounds the timeout down: one second more before it is looked up.
  advance(10);
  assert.deepEqual(table.dueKeys(100), []);
  advance(1.5);
  assert.deepEqual(table.dueKeys(100), [entryKey(closing)]);
  advance(60);
  assert.deepEqual(table.dueKeys(100), [], 'under way: not asked about twice');
});

test('an event renews the deadline; an ESTABLISHED entry is never due', () => {
  const { table, advance } = clocked();
  const opening = db(1, TcpState.SynSent, 5);
  const open = db(2, TcpState.Established, 5);
  table.apply(ev('new', opening));
  table.apply(ev('new', open));
  advance(3);
  // A retransmitted SYN changes nothing but the timeout, which the event carries.
  table.apply(ev('update', { ...opening, tcpState: undefined, timeout: 120 }));
  advance(100);
  assert.deepEqual(table.dueKeys(100), [], 'the first deadline is no longer the one');
  advance(30);
  assert.deepEqual(table.dueKeys(100), [entryKey(opening)]);
  advance(1000);
  assert.deepEqual(table.dueKeys(100), []);
});

test('what a lookup found is due again at its new timeout; a gone one ends by its DESTROY event', () => {
  const { table, advance } = clocked();
  const renewed = db(1, TcpState.CloseWait, 60);
  const reaped = db(2, TcpState.TimeWait, 60);
  table.apply(ev('new', renewed));
  table.apply(ev('new', reaped));
  advance(62);
  const due = table.dueKeys(100).sort();
  assert.deepEqual(due, [entryKey(renewed), entryKey(reaped)].sort());
  // Packets renewed the first one's timeout; the kernel reaped the second
  // at the lookup and sends its DESTROY event.
  assert.equal(table.renewDue([{ ...renewed, timeout: 45 }]), 1);
  table.apply(ev('destroy', reaped));
  assert.deepEqual(table.snapshot()[0]?.counts, { opening: 0, open: 0, closing: 1, closed: 0 });
  advance(45);
  assert.deepEqual(table.dueKeys(100), []);
  advance(1.5);
  assert.deepEqual(table.dueKeys(100), [entryKey(renewed)]);
  // Both opened, one closed (by its DESTROY event): counted once each.
  const { mapping } = toSeries(table.snapshot(), { maxHosts: 10, maxPortsPerHost: 10 });
  assert.deepEqual(
    table.lifecycle.fold(mapping).map(({ values }) => ({ ...values })),
    [{ opened: 2, closed: 1 }],
  );
});

test('a lookup answer about another connection on the same tuple renews nothing', () => {
  const { table, advance } = clocked();
  const old = db(1, TcpState.TimeWait, 10);
  table.apply(ev('new', old));
  advance(12);
  assert.deepEqual(table.dueKeys(100), [entryKey(old)]);
  assert.equal(table.renewDue([{ ...old, id: 99, timeout: 10 }]), 0, 'the one held is gone');
  advance(20);
  assert.deepEqual(table.dueKeys(100), []);
});

test('at most `max` keys a call; the others stay due for the next', () => {
  const { table, advance } = clocked();
  for (let id = 1; id <= 5; id++) table.apply(ev('new', db(id, TcpState.TimeWait, 10)));
  advance(12);
  assert.equal(table.dueKeys(3).length, 3);
  assert.equal(table.dueKeys(3).length, 2);
  assert.equal(table.dueKeys(3).length, 0);
});

test('a read of the table gives its entries their deadlines from the timeouts it read', () => {
  const { table, advance } = clocked();
  const closing = db(1, TcpState.LastAck, 30);
  table.replace([closing, db(2, TcpState.Established, 30)], []);
  advance(20);
  assert.deepEqual(table.dueKeys(100), []);
  advance(12);
  assert.deepEqual(table.dueKeys(100), [entryKey(closing)]);
});

test('an entry the metrics leave out (the own port) is not watched', () => {
  const { table, advance } = clocked();
  const own = { ...tcpEntry(1, TcpState.TimeWait, ['198.51.100.5', 50_000], [HERE, 9318]) };
  table.apply(ev('new', { ...own, timeout: 5 }));
  advance(10);
  assert.deepEqual(table.dueKeys(100), []);
  assert.equal(table.dueListed, 0);
});
