import assert from 'node:assert/strict';
import test from 'node:test';

import type { ConntrackEvent, ConntrackEventType } from '../../src/conntrack/events';
import { ConntrackEntry, TcpState } from '../../src/conntrack/types';
import { aggregate } from '../../src/model/aggregate';
import { AggregateOptions } from '../../src/model/classify';
import { groupKey, HostGroup } from '../../src/model/group';
import { HostFilter } from '../../src/model/host-filter';
import { entryKey, identityOfKey, LiveTable } from '../../src/model/live-table';
import { toSeries } from '../../src/model/series';
import { checkedIn, tcpEntry } from '../helpers/entry';
import { FakeSilentList } from '../helpers/silent-list';

const HERE = '192.0.2.1';
const OPTIONS: AggregateOptions = { localAddresses: new Set([HERE, '127.0.0.1']), ownPort: 9318 };

const conn = tcpEntry;

const ev = (type: ConntrackEventType, entry: ConntrackEntry): ConntrackEvent => ({ type, entry });
const withState = (entry: ConntrackEntry, tcpState: TcpState | undefined): ConntrackEntry => ({
  ...entry,
  tcpState,
});
const db = (id: number, port: number, state: TcpState | undefined = TcpState.Established) =>
  conn(id, state, [HERE, port], ['198.51.100.5', 5432]);

/** The opened/closed series a scrape would export now, with room for every host and port. */
function lifecycleOf(table: LiveTable) {
  const { mapping } = toSeries(table.snapshot(), { maxHosts: 100, maxPortsPerHost: 100 });
  return table.lifecycle
    .fold(mapping)
    .map(
      ({ host, port, direction, values: { opened, closed } }) =>
        `${direction} ${host}:${port} +${opened} -${closed}`,
    )
    .sort();
}

test('follows a connection through its states, counting it opened and closed once', () => {
  const table = new LiveTable(OPTIONS);
  const entry = db(7, 40000, TcpState.SynSent);
  table.apply(ev('new', entry));
  assert.deepEqual(table.snapshot()[0]?.counts, {
    opening: 1,
    open: 0,
    closing: 0,
    closed: 0,
  });
  table.apply(ev('update', withState(entry, TcpState.Established)));
  // An update that is not a change of state carries none; the state stays.
  table.apply(ev('update', withState(entry, undefined)));
  table.apply(ev('update', withState(entry, TcpState.TimeWait)));
  assert.deepEqual(table.snapshot()[0]?.counts, {
    opening: 0,
    open: 0,
    closing: 1,
    closed: 0,
  });
  assert.deepEqual(lifecycleOf(table), ['outbound 198.51.100.5:5432 +1 -0']);
  table.apply(ev('destroy', withState(entry, undefined)));
  assert.equal(table.size, 0);
  assert.deepEqual(table.snapshot(), []);
  assert.deepEqual(lifecycleOf(table), ['outbound 198.51.100.5:5432 +1 -1']);
});

test('a connection that came and went between scrapes is still counted', () => {
  const table = new LiveTable(OPTIONS);
  const inbound = conn(3, TcpState.SynRecv, ['203.0.113.9', 50000], [HERE, 443]);
  table.apply(ev('new', inbound));
  table.apply(ev('update', withState(inbound, TcpState.Established)));
  table.apply(ev('destroy', inbound));
  assert.deepEqual(table.snapshot(), []);
  assert.deepEqual(lifecycleOf(table), ['inbound 203.0.113.9:443 +1 -1']);
});

test('a DESTROY of a connection never seen counts it as opened and closed', () => {
  const table = new LiveTable(OPTIONS);
  table.apply(ev('destroy', db(9, 40000)));
  assert.equal(table.size, 0);
  assert.deepEqual(lifecycleOf(table), ['outbound 198.51.100.5:5432 +1 -1']);
});

test('a tuple reused by a new connection (new kernel id) ends the old one', () => {
  const table = new LiveTable(OPTIONS);
  table.apply(ev('new', db(1, 40000)));
  table.apply(ev('new', db(2, 40000, TcpState.SynSent)));
  // A late DESTROY of the first connection leaves the second alone.
  table.apply(ev('destroy', db(1, 40000)));
  assert.equal(table.size, 1);
  assert.equal(table.stateOf(db(2, 40000)), TcpState.SynSent);
  assert.deepEqual(lifecycleOf(table), ['outbound 198.51.100.5:5432 +3 -2']);
});

test('flows to the own port and to ignored hosts are held but neither gauged nor counted', () => {
  const table = new LiveTable({ ...OPTIONS, ignore: HostFilter.parse(['203.0.113.0/24']) });
  table.apply(ev('new', conn(1, TcpState.Established, ['198.51.100.7', 50000], [HERE, 9318])));
  table.apply(ev('new', conn(2, TcpState.Established, [HERE, 40000], ['203.0.113.4', 80])));
  table.apply(ev('destroy', conn(3, TcpState.Close, [HERE, 40001], ['203.0.113.4', 80])));
  assert.equal(table.size, 2);
  assert.deepEqual(table.snapshot(), []);
  assert.deepEqual(lifecycleOf(table), []);
});

/** A small kernel: the entries it holds, and the events it sends for each change. */
class Kernel {
  readonly entries = new Map<string, ConntrackEntry>();
  private nextId = 1;

  constructor(private readonly random: () => number) {}

  step(): ConntrackEvent {
    const live = [...this.entries.values()];
    const roll = this.random();
    if (live.length === 0 || roll < 0.4) return this.open();
    const entry = live[Math.floor(this.random() * live.length)]!;
    if (roll < 0.7) {
      const states = [TcpState.Established, TcpState.FinWait, TcpState.TimeWait, TcpState.Close];
      const changed = withState(entry, states[Math.floor(this.random() * states.length)]);
      this.entries.set(entryKey(changed), changed);
      return ev('update', changed);
    }
    this.entries.delete(entryKey(entry));
    return ev('destroy', withState(entry, undefined));
  }

  private open(): ConntrackEvent {
    const pick = <T>(items: T[]): T => items[Math.floor(this.random() * items.length)]!;
    const remote = pick(['198.51.100.5', '198.51.100.6', '2001:db8::5']);
    const local = remote.includes(':') ? '2001:db8::1' : HERE;
    const port = 1024 + Math.floor(this.random() * 200);
    const outbound = this.random() < 0.5;
    const entry = conn(
      this.nextId++,
      pick([TcpState.SynSent, TcpState.SynRecv, TcpState.None, TcpState.Established]),
      outbound ? [local, port] : [remote, port],
      outbound ? [remote, pick([443, 5432])] : [local, pick([22, 9318])],
    );
    const key = entryKey(entry);
    const old = this.entries.get(key);
    // The kernel never holds two entries with one tuple: a packet for a
    // tuple still in the table belongs to the old entry.
    const stored = old === undefined ? entry : { ...entry, id: old.id };
    this.entries.set(key, stored);
    return ev(old === undefined ? 'new' : 'update', stored);
  }
}

function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

/** Groups by key: the table and a read list them in different orders. */
const byKey = (groups: readonly HostGroup[]) => new Map(groups.map((g) => [groupKey(g), g]));

const TABLE_OPTIONS = { ...OPTIONS, localAddresses: new Set([HERE, '2001:db8::1']) };

test('the groups always equal what dump mode aggregates from the same entries', () => {
  const kernel = new Kernel(seeded(42));
  const table = new LiveTable(TABLE_OPTIONS);
  for (let i = 0; i < 3000; i++) {
    table.apply(kernel.step());
    if (i % 50 === 0) {
      assert.deepEqual(
        byKey(table.snapshot()),
        byKey(aggregate(kernel.entries.values(), TABLE_OPTIONS)),
      );
    }
  }
  assert.equal(table.size, kernel.entries.size);
});

test('a resync while events flow ends equal to the kernel, wherever the read happened', () => {
  for (let readAt = 0; readAt <= 40; readAt += 4) {
    const kernel = new Kernel(seeded(7 + readAt));
    const table = new LiveTable(TABLE_OPTIONS);
    for (let i = 0; i < 200; i++) table.apply(kernel.step());
    const before = lifecycleOf(table);

    // The read is asked for, events keep coming (applied live and kept),
    // and the kernel is read at some point among them.
    const during: ConntrackEvent[] = [];
    let read: ConntrackEntry[] = [];
    for (let i = 0; i < 40; i++) {
      if (i === readAt) read = [...kernel.entries.values()];
      const event = kernel.step();
      table.apply(event);
      during.push(event);
    }
    if (readAt === 40) read = [...kernel.entries.values()];
    const liveCounts = lifecycleOf(table);
    const result = table.replace(read, during);

    assert.deepEqual(result, { appeared: 0, vanished: 0 }, `read at ${readAt}`);
    assert.deepEqual(
      byKey(table.snapshot()),
      byKey(aggregate(kernel.entries.values(), TABLE_OPTIONS)),
    );
    // Nothing was lost, so the resync counted nothing the events had not.
    assert.deepEqual(lifecycleOf(table), liveCounts);
    assert.notDeepEqual(liveCounts, before);
  }
});

test('a resync repairs lost events and counts what they would have', () => {
  const table = new LiveTable(OPTIONS);
  const stays = db(1, 40000);
  const endsUnseen = db(2, 40001);
  const startsUnseen = db(3, 40002, TcpState.SynSent);
  const changesUnseen = db(4, 40003);
  for (const entry of [stays, endsUnseen, changesUnseen]) table.apply(ev('new', entry));

  const result = table.replace(
    [stays, startsUnseen, withState(changesUnseen, TcpState.TimeWait)],
    [],
  );
  assert.deepEqual(result, { appeared: 1, vanished: 1 });
  assert.deepEqual(table.snapshot()[0]?.counts, {
    opening: 1,
    open: 1,
    closing: 1,
    closed: 0,
  });
  assert.deepEqual(lifecycleOf(table), ['outbound 198.51.100.5:5432 +4 -1']);
});

test('a resync classifies everything again with the new local addresses', () => {
  const table = new LiveTable({ localAddresses: new Set(['192.0.2.99']) });
  const entry = db(1, 40000);
  table.apply(ev('new', entry));
  assert.equal(table.snapshot()[0]?.direction, 'forwarded');
  table.replace([entry], [], OPTIONS);
  assert.equal(table.snapshot()[0]?.direction, 'outbound');
  assert.equal(table.localAddresses, OPTIONS.localAddresses);
});

/** A table whose silent entries are listed in a FakeSilentList, checked against `kernel`. */
function withSilentList(kernel: () => ConntrackEntry[] = () => []) {
  const list = new FakeSilentList((keys, ids) => Promise.resolve(checkedIn(kernel(), keys, ids)));
  return { list, table: new LiveTable(OPTIONS, undefined, list) };
}

test('entries found by the first read and mentioned by no event are tracked as silent', () => {
  const { table, list } = withSilentList();
  const quiet = db(1, 40000);
  const chatty = db(2, 40001);
  const gone = db(3, 40002);
  table.replace([quiet, chatty, gone], [], OPTIONS, true);
  assert.equal(table.silentEntries, 3);
  table.apply(ev('update', withState(chatty, TcpState.FinWait)));
  assert.equal(table.silentEntries, 2);
  // Later reads drop the silent entries that are gone, and add none.
  table.replace([quiet, chatty, db(4, 40004)], []);
  assert.equal(table.silentEntries, 1);
  table.replace([chatty, db(4, 40004)], []);
  assert.equal(table.silentEntries, 0);
  // A read that finds silent entries again keeps listing them, and lists the new ones.
  table.replace([chatty, db(4, 40004), db(5, 40005)], [], OPTIONS, true);
  assert.deepEqual(list.keys(), [entryKey(db(5, 40005))]);
  table.replace([quiet, chatty, db(5, 40005)], [], OPTIONS, true);
  assert.deepEqual(list.keys(), [quiet, db(5, 40005)].map(entryKey));
  assert.equal(table.silentEntries, 2);
});

test('a key reads back as the identity it was made from', () => {
  for (const entry of [
    db(1, 40000),
    conn(2, TcpState.Established, ['2001:db8::1', 443], ['2001:db8:ff::7', 51234]),
    { ...db(3, 40001), zone: 7 },
  ]) {
    const identity = identityOfKey(entryKey(entry));
    assert.deepEqual(identity, {
      family: entry.family,
      original: entry.original,
      zone: entry.zone,
    });
    assert.equal(entryKey(identity), entryKey(entry));
  }
});

test('a check of silent entries brings each up to date, or ends it', async () => {
  const changed = db(1, 40000);
  const same = db(2, 40001);
  const gone = db(3, 40002);
  const reused = db(4, 40003);
  const mentioned = db(5, 40004);
  const { table, list } = withSilentList(() => [
    withState(changed, TcpState.TimeWait),
    same,
    // Same tuple, another connection: the one held has ended.
    { ...reused, id: 40 },
    // What the check says of it is older than the event.
    withState(mentioned, TcpState.Established),
  ]);
  table.replace([changed, same, gone, reused, mentioned, db(6, 40005)], [], OPTIONS, true);
  table.apply(ev('update', withState(db(6, 40005), TcpState.Established)));
  assert.deepEqual(
    [...list.keys()].sort(),
    [changed, same, gone, reused, mentioned].map(entryKey).sort(),
  );
  const checking = list.check(10);
  // While the lookup ran, an event came for one of them: it is no longer silent.
  table.apply(ev('update', withState(mentioned, TcpState.FinWait)));
  const { changes, checked, wrapped } = await checking;
  assert.deepEqual([checked, wrapped], [5, true]);
  assert.deepEqual(
    changes.map(({ key, now }) => [key, now]),
    [
      [entryKey(changed), { gone: false, state: TcpState.TimeWait }],
      [entryKey(gone), { gone: true }],
      [entryKey(reused), { gone: true }],
    ],
  );
  const ended = table.applyChecks(changes);
  assert.equal(ended, 2);
  assert.equal(table.silentEntries, 2);
  assert.equal(table.size, 4);
  assert.equal(table.stateOf(changed), TcpState.TimeWait);
  assert.equal(table.stateOf(same), TcpState.Established);
  assert.equal(table.stateOf(mentioned), TcpState.FinWait);
  assert.equal(table.stateOf(gone), undefined);
  assert.deepEqual(table.snapshot()[0]?.counts, {
    opening: 0,
    open: 2,
    closing: 2,
    closed: 0,
  });
  // The first read counted all six opened.
  assert.deepEqual(lifecycleOf(table), ['outbound 198.51.100.5:5432 +6 -2']);
});

test('idle series of groups without connections are forgotten after the retention', () => {
  let now = 1_000_000;
  const table = new LiveTable({ ...OPTIONS, counterRetentionMs: 60_000 }, () => now);
  table.apply(ev('new', db(1, 40000)));
  table.apply(ev('destroy', db(1, 40000)));
  table.apply(ev('new', conn(2, TcpState.Established, [HERE, 40001], ['198.51.100.6', 80])));
  assert.deepEqual(lifecycleOf(table), [
    'outbound 198.51.100.5:5432 +1 -1',
    'outbound 198.51.100.6:80 +1 -0',
  ]);
  now += 60_000;
  assert.equal(lifecycleOf(table).length, 2);
  now += 1;
  // .6 still has a connection, so the gauges have its series: it stays.
  assert.deepEqual(lifecycleOf(table), ['outbound 198.51.100.6:80 +1 -0']);
});

test('after a read of the table, events move the counts of the groups it made', () => {
  // The read makes its groups anew side by side (compact); a connection
  // still pointing at a group from before the copy would count in neither.
  const table = new LiveTable(OPTIONS);
  const a = db(1, 40001);
  const b = db(2, 40002);
  table.replace([a, b], []);
  table.apply(ev('update', withState(a, TcpState.TimeWait)));
  table.apply(ev('new', db(3, 40003, TcpState.SynSent)));
  assert.deepEqual(table.snapshot()[0]?.counts, {
    opening: 1,
    open: 1,
    closing: 1,
    closed: 0,
  });
  table.apply(ev('destroy', withState(a, undefined)));
  table.apply(ev('destroy', withState(b, undefined)));
  table.apply(ev('destroy', db(3, 40003, undefined)));
  assert.deepEqual(table.snapshot(), []);
});
