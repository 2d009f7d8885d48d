import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import test from 'node:test';

import type {
  ConntrackEvent,
  ConntrackEventStreamEvents,
  ConntrackEventType,
} from '../../src/conntrack/events';
import type { Checked } from '../../src/conntrack';
import { ConntrackEntry, TcpState } from '../../src/conntrack/types';
import { LiveSync, LiveSyncOptions } from '../../src/events/live-sync';
import { Logger } from '../../src/log';
import { toSeries } from '../../src/model/series';
import { HostGroup } from '../../src/model/group';
import { entryKey } from '../../src/model/live-table';
import { checkedIn, tcpEntry } from '../helpers/entry';
import { FakeSilentList } from '../helpers/silent-list';
import { FakeClock } from '../helpers/fake-clock';
import { waitFor } from '../helpers/netns';

/** Ranking limits that give every host and port a series of its own. */
const ROOM = { maxHosts: 100, maxPortsPerHost: 100 };

const HERE = '192.0.2.1';

const conn = (id: number, port: number, state = TcpState.Established) =>
  tcpEntry(id, state, [HERE, port], ['198.51.100.5', 5432]);

const ev = (type: ConntrackEventType, entry: ConntrackEntry): ConntrackEvent => ({ type, entry });

const SILENT_CHECK_MS = 4_000;

const quiet: Logger = { info() {}, warn() {}, error() {}, debug() {} };

class FakeStream extends EventEmitter<ConntrackEventStreamEvents> {
  closed = false;
  close(): void {
    this.closed = true;
  }
  send(events: ConntrackEvent[], drained = true): void {
    this.emit('events', events, { drained, receivedAtMs: 0 });
  }
}

/**
 * A read of the table (dump) or of some entries (lookup) whose answer the
 * test gives, so events can arrive while it runs.
 */
class FakeRead {
  calls = 0;
  /** The keys each lookup asked for. */
  asked: string[][] = [];
  private answer: ((entries: ConntrackEntry[]) => void) | undefined;
  private failure: ((error: Error) => void) | undefined;

  readonly dump = (): Promise<ConntrackEntry[]> => {
    this.calls++;
    return new Promise((resolve, reject) => {
      this.answer = resolve;
      this.failure = reject;
    });
  };

  /** A check of connections: the test resolves it with the entries the kernel holds. */
  readonly check = (keys: readonly string[], ids: readonly number[]): Promise<Checked[]> => {
    this.asked.push([...keys]);
    return this.dump().then((found) => checkedIn([...found], keys, ids));
  };

  get running(): boolean {
    return this.answer !== undefined;
  }

  resolve(entries: ConntrackEntry[]): void {
    const answer = this.answer;
    this.answer = undefined;
    answer?.(entries);
  }

  reject(error: Error): void {
    const failure = this.failure;
    this.answer = undefined;
    failure?.(error);
  }
}

function setUp(overrides: Partial<LiveSyncOptions> = {}) {
  const stream = new FakeStream();
  const fake = new FakeRead();
  const lookup = new FakeRead();
  const clock = new FakeClock();
  let addresses = new Set([HERE]);
  const sync = new LiveSync({
    stream,
    dump: fake.dump,
    silentList: new FakeSilentList(lookup.check),
    localAddresses: () => addresses,
    classify: {},
    resyncIntervalMs: 0,
    trackSilent: false,
    silentCheckIntervalMs: SILENT_CHECK_MS,
    silentTimers: { now: clock.time, schedule: clock.schedule },
    log: quiet,
    ...overrides,
  });
  const setAddresses = (next: string[]) => {
    addresses = new Set(next);
  };
  return { stream, fake, lookup, clock, sync, setAddresses };
}

const openCount = (sync: LiveSync) => sync.table.snapshot()[0]?.counts.open ?? 0;
const tick = () => new Promise((resolve) => setImmediate(resolve));

test('events during the first read are applied on top of it, none lost or doubled', async () => {
  const { stream, fake, sync } = setUp();
  const started = sync.start();
  // Subscribed before the read: these happen while the kernel is being read.
  stream.send([ev('new', conn(2, 40001)), ev('destroy', conn(1, 40000))]);
  fake.resolve([conn(1, 40000), conn(2, 40001)]);
  await started;
  assert.equal(sync.table.size, 1);
  assert.equal(sync.table.stateOf(conn(2, 40001)), TcpState.Established);
  assert.deepEqual(
    sync.table.lifecycle
      .fold(toSeries(sync.table.snapshot(), ROOM).mapping)
      .map(({ values: { opened, closed } }) => [opened, closed]),
    [[2, 1]],
  );
  assert.equal(sync.stats.resyncs.start, 1);
  assert.deepEqual(sync.stats.events, { new: 1, update: 0, destroy: 1 });
});

test('a read is released once the table has it, and also when it is thrown away', async () => {
  const released: string[] = [];
  const read = (name: string, entries: ConntrackEntry[]) =>
    Object.assign([...entries], { release: () => released.push(name) });
  const { stream, fake, sync } = setUp();
  const started = sync.start();
  fake.resolve(read('first', [conn(1, 40000)]));
  await started;
  assert.deepEqual(released, ['first']);
  assert.equal(sync.table.size, 1);

  const again = sync.resync('interval');
  stream.emit('overflow');
  fake.resolve(read('spoiled', []));
  await tick();
  assert.deepEqual(released, ['first', 'spoiled']);
  stream.send([], true);
  fake.resolve(read('repair', [conn(1, 40000)]));
  await again;
  assert.deepEqual(released, ['first', 'spoiled', 'repair']);
});

test('after an overflow the repair read waits until the socket has drained', async () => {
  const { stream, fake, sync } = setUp();
  const started = sync.start();
  fake.resolve([]);
  await started;

  stream.emit('overflow');
  assert.equal(sync.stats.overflows, 1);
  // Events from before the drop are still queued: applied, but no read yet.
  stream.send([ev('new', conn(1, 40000))], false);
  assert.equal(fake.calls, 1);
  stream.send([ev('update', conn(1, 40000, TcpState.FinWait))], true);
  assert.equal(fake.calls, 2);

  // The DESTROY of 1 was dropped, and 3 appeared unseen.
  stream.send([ev('new', conn(4, 40004))]);
  fake.resolve([conn(3, 40003), conn(4, 40004)]);
  await tick();
  assert.equal(sync.stats.resyncs.overflow, 1);
  assert.equal(sync.table.size, 2);
  assert.equal(sync.table.stateOf(conn(1, 40000)), undefined);
  assert.deepEqual(
    sync.table.lifecycle
      .fold(toSeries(sync.table.snapshot(), ROOM).mapping)
      .map(({ values: { opened, closed } }) => [opened, closed]),
    [[3, 1]],
  );
});

test('a read running when events are lost is thrown away and done again', async () => {
  const { stream, fake, sync } = setUp();
  const started = sync.start();
  stream.emit('overflow');
  // This read may have missed the lost events: it must not become the table.
  fake.resolve([conn(1, 40000)]);
  await tick();
  assert.equal(sync.table.size, 0);
  assert.equal(fake.running, false);
  stream.send([], true);
  assert.equal(fake.calls, 2);
  fake.resolve([conn(2, 40001)]);
  await started;
  assert.equal(sync.table.size, 1);
  assert.equal(sync.table.stateOf(conn(2, 40001)), TcpState.Established);
  assert.deepEqual(sync.stats.resyncs, {
    start: 0,
    overflow: 1,
    interval: 0,
    addresses: 0,
    silent_entries: 0,
    events_on: 0,
  });
});

test('a scrape re-reads the table when local addresses changed', async () => {
  const { stream, fake, sync, setAddresses } = setUp();
  const started = sync.start();
  fake.resolve([]);
  await started;
  stream.send([ev('new', conn(1, 40000))]);
  assert.equal(openCount(sync), 1);
  assert.equal((await sync.snapshot())[0]?.direction, 'outbound');

  setAddresses(['192.0.2.99']);
  const snapshot = sync.snapshot();
  await tick();
  fake.resolve([conn(1, 40000)]);
  assert.equal([...(await snapshot).values()][0]?.direction, 'forwarded');
  assert.equal(sync.stats.resyncs.addresses, 1);
});

test('the interval asks for a read; a failed read rejects its waiters and is reported', async () => {
  const errors: string[] = [];
  const { fake, sync } = setUp({
    resyncIntervalMs: 5,
    log: { ...quiet, error: (message) => errors.push(message) },
  });
  const started = sync.start();
  fake.reject(new Error('boom'));
  await assert.rejects(started, /boom/);
  assert.match(errors[0] ?? '', /\(start\) failed: boom/);
  // Bounded wait for the timer, whatever the machine's load.
  await waitFor(() => fake.running, 60_000, "the interval's read");
  fake.resolve([conn(1, 40000)]);
  await tick();
  assert.equal(sync.stats.resyncs.interval, 1);
  sync.close();
});

test('close unsubscribes and rejects whoever waits for a read', async () => {
  const { stream, sync } = setUp();
  const started = sync.start();
  sync.close();
  assert.equal(stream.closed, true);
  await assert.rejects(started, /closed/);
  await assert.rejects(sync.resync('interval'), /closed/);
});

test('a failed stream is remembered, and nobody waits for a drain that cannot come', async () => {
  const { stream, fake, sync } = setUp();
  const started = sync.start();
  fake.resolve([]);
  await started;
  stream.emit('overflow');
  const waiting = sync.resync('addresses');
  stream.emit('error', new Error('recvmmsg: Bad file descriptor'));
  assert.match(sync.failed?.message ?? '', /Bad file descriptor/);
  await assert.rejects(waiting, /Bad file descriptor/);
});

/** A table read at start with one silent entry, then three connections from events. */
async function withOneSilentOfFour(overrides: Partial<LiveSyncOptions> = {}) {
  const parts = setUp({ trackSilent: true, ...overrides });
  const { stream, fake, sync } = parts;
  const started = sync.start();
  fake.resolve([conn(1, 40000)]);
  await started;
  stream.send([40001, 40002, 40003].map((port) => ev('new', conn(port, port))));
  assert.equal(sync.table.silentEntries, 1);
  assert.equal(sync.table.size, 4);
  return parts;
}

const openIn = (groups: readonly HostGroup[]) => groups[0]?.counts.open ?? 0;

const lifecycleOf = (sync: LiveSync) =>
  sync.table.lifecycle
    .fold(toSeries(sync.table.snapshot(), ROOM).mapping)
    .map(({ values: { opened, closed } }) => [opened, closed]);

test('a scrape never waits for silent entries: they are looked up in the background', async () => {
  const { fake, lookup, clock, sync } = await withOneSilentOfFour();
  // However many scrapes come, none reads or looks anything up.
  for (let i = 0; i < 3; i++) assert.equal(openIn(await sync.snapshot()), 4);
  assert.equal(fake.calls, 1);
  assert.deepEqual(lookup.asked, []);

  await clock.advance(SILENT_CHECK_MS);
  assert.deepEqual(lookup.asked, [[entryKey(conn(1, 40000))]]);
  // A scrape while the lookup runs does not wait for it either.
  assert.equal(openIn(await sync.snapshot()), 4);
  lookup.resolve([conn(1, 40000, TcpState.TimeWait)]);
  await clock.advance(0);
  assert.equal(sync.table.stateOf(conn(1, 40000)), TcpState.TimeWait);
  assert.equal(sync.table.silentEntries, 1);

  // Checked again within the interval; now it is gone and counted closed.
  await clock.advance(SILENT_CHECK_MS);
  assert.equal(lookup.asked.length, 2);
  lookup.resolve([]);
  await clock.advance(0);
  assert.equal(sync.table.silentEntries, 0);
  assert.equal(openIn(await sync.snapshot()), 3);
  assert.deepEqual(lifecycleOf(sync), [[4, 1]]);
  assert.deepEqual(sync.stats.silentLookups, { entries: 2, ended: 1 });
  assert.equal(sync.stats.resyncs.silent_entries, 0);
  assert.equal(fake.calls, 1, 'no read of the whole table');
  sync.close();
});

test('a silent entry whose tuple is now another connection ends once; the new one opens once', async () => {
  for (const order of ['lookup first', 'event first'] as const) {
    const { stream, lookup, clock, sync } = await withOneSilentOfFour();
    const successor = conn(99, 40000);
    await clock.advance(SILENT_CHECK_MS);
    if (order === 'event first') stream.send([ev('new', successor)]);
    lookup.resolve([successor]);
    await clock.advance(0);
    if (order === 'lookup first') stream.send([ev('new', successor)]);
    assert.equal(sync.table.silentEntries, 0, order);
    assert.equal(sync.table.size, 4, order);
    assert.equal(openIn(await sync.snapshot()), 4, order);
    // Five connections opened (one before the exporter), one closed.
    assert.deepEqual(lifecycleOf(sync), [[5, 1]], order);
    sync.close();
  }
});

test('no read of the whole table starts while a lookup runs, and no lookup while a read runs or waits', async () => {
  const { stream, fake, lookup, clock, sync } = await withOneSilentOfFour();
  await clock.advance(SILENT_CHECK_MS);
  assert.equal(lookup.running, true);
  stream.emit('overflow');
  stream.send([], true);
  const repaired = sync.resync('interval');
  await clock.advance(0);
  assert.equal(fake.running, false, 'the repair waits for the lookup');
  lookup.resolve([conn(1, 40000)]);
  await clock.advance(0);
  assert.equal(fake.running, true);
  // The read runs for longer than an interval: no lookup meanwhile.
  await clock.advance(2 * SILENT_CHECK_MS);
  assert.equal(lookup.asked.length, 1);
  fake.resolve([40001, 40002, 40003].map((port) => conn(port, port)));
  await repaired;
  assert.equal(sync.stats.resyncs.overflow, 1);
  assert.equal(sync.table.size, 3);
  assert.equal(sync.table.silentEntries, 0);
  sync.close();
});

test('a failed lookup falls back to a read of the whole table in the background', async () => {
  const warnings: string[] = [];
  const { fake, lookup, clock, sync } = await withOneSilentOfFour({
    log: { ...quiet, warn: (line) => warnings.push(line) },
  });
  await clock.advance(SILENT_CHECK_MS);
  lookup.reject(new Error('boom'));
  await clock.advance(0);
  assert.equal(fake.running, true);
  // A scrape meanwhile does not wait for that read.
  assert.equal(openIn(await sync.snapshot()), 4);
  fake.resolve([40001, 40002, 40003].map((port) => conn(port, port)));
  await clock.advance(0);
  assert.equal(sync.stats.resyncs.silent_entries, 1);
  assert.equal(sync.table.silentEntries, 0);
  assert.deepEqual(lifecycleOf(sync), [[4, 1]]);
  assert.match(
    warnings[0] ?? '',
    /looking up entries that send no events failed: boom; re-reading the table instead/,
  );
  sync.close();
});
