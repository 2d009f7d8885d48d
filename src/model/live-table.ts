import type { ConntrackEvent, EventBatch } from '../conntrack/events';
import { SilentChange, silentLine, SilentList } from '../conntrack/silent-list';
import { ConntrackEntry, EntryIdentity, identityKey, TcpState } from '../conntrack/types';
import { AggregateOptions, countedFlow } from './classify';
import { DueList } from './due-list';
import { FlowView } from './flow';
import {
  GroupIndex,
  GroupLabels,
  groupKey,
  HostGroup,
  labelsOfFlow,
  PhaseCounts,
  totalOf,
  zeroCounts,
} from './group';
import { LongtermCandidate } from './longterm';
import { DEFAULT_COUNTER_RETENTION_MS, PerHostCounters } from './per-host-counters';
import { ConnectionPhase, phaseOf } from './tcp-state';

/** What the table counts of every connection: that it appeared, and that it ended. */
export const LIFECYCLE_KINDS = ['opened', 'closed'] as const;

export type LifecycleKind = (typeof LIFECYCLE_KINDS)[number];

/** A group's labels and its key (groupKey), as the table's map of groups takes them. */
type KeyedLabels = GroupLabels & { key: string };

/** A group of connections of the table; its counts move as entries come, change and go. */
interface LiveGroup extends HostGroup, KeyedLabels {
  /** Entries referring to this group, with a phase or not; at 0 the group is dropped. */
  entries: number;
}

/**
 * What the table keeps of one kernel entry: no addresses (the key and the
 * shared group have them), no kernel object.
 */
interface Connection {
  /** The kernel's id, which tells a new connection from an old one on the same tuple. */
  id: number;
  state: TcpState | undefined;
  /** Undefined when the metrics leave the flow out (own port, ignored host). */
  group: LiveGroup | undefined;
  /**
   * When the flow started (kernel timestamp) or was first seen, in
   * hundredths of a second since TIME_ORIGIN_MS: a small integer, stored in
   * the object itself for 248 days of uptime, where milliseconds since the
   * epoch would need a boxed number per entry.
   */
  sinceCs: number;
  /**
   * Whether sinceCs is when it started (a kernel timestamp, or its NEW
   * event), not when a read first found it.
   */
  startKnown: boolean;
  /**
   * When its timeout runs out if no packet renews it, in the units of
   * sinceCs; 0 when that is not watched (see scheduleExpiry) or a lookup
   * about it is under way.
   */
  dueCs: number;
}

/** The origin of Connection.sinceCs. */
const TIME_ORIGIN_MS = Date.now();

/** What the table knew of a connection when an event about it came. */
export type KnownConnection = Readonly<
  Pick<Connection, 'id' | 'state' | 'sinceCs' | 'startKnown'>
> & {
  readonly group: Readonly<GroupLabels> | undefined;
};

/** Sees an event as the table applies it, with what the table knew of its connection before. */
export type EventWatcher = (
  event: ConntrackEvent,
  known: KnownConnection | undefined,
  batch: EventBatch,
) => void;

/** When a known connection started, or was first seen, in ms since the epoch. */
export function startedAtMs(known: KnownConnection): number {
  return TIME_ORIGIN_MS + known.sinceCs * 10;
}

export interface LiveTableOptions extends AggregateOptions {
  /** How long an idle opened/closed series outlives its last change (see PerHostCounters). */
  counterRetentionMs?: number;
}

/** What a resync changed. */
export interface ResyncResult {
  /** Entries in the table that the table had not heard of (their NEW event was lost). */
  appeared: number;
  /** Entries the table held that are gone (their DESTROY event was lost). */
  vanished: number;
}

/**
 * The groups of one table, by their key (what the snapshot and the tallies
 * use), and found through a GroupIndex for every entry of every read of the
 * table and every event.
 */
class Groups {
  readonly byKey = new Map<string, LiveGroup>();
  private readonly index = new GroupIndex<LiveGroup>();

  /** The group of a flow, made if it is new. */
  of(flow: FlowView): LiveGroup {
    let group = this.index.get(flow.remote, flow.port, flow.direction);
    if (group === undefined) {
      group = liveGroup(labelsOfFlow(flow), zeroCounts(), 0);
      this.index.set(group.host, group.port, group.direction, group);
      this.byKey.set(group.key, group);
    }
    return group;
  }

  /**
   * Makes every group anew, one right after the other, and points the
   * connections at the copies. Groups made while reading the table lie
   * scattered between its connections, about one per memory page, and a
   * scrape reads every group while little of the heap is in the CPU's
   * caches: reading them scattered took several times as long as side by
   * side (make bench's table; its scrape latencies are in BENCHMARKS.md).
   * Costs one lookup per connection, once per read of the table.
   */
  compact(connections: Iterable<Connection>): void {
    const copies = new Map<LiveGroup, LiveGroup>();
    for (const [key, group] of this.byKey) {
      const copy = liveGroup(group, group.counts, group.entries, group.key);
      copies.set(group, copy);
      this.byKey.set(key, copy);
      this.index.set(group.host, group.port, group.direction, copy);
    }
    for (const connection of connections) {
      if (connection.group !== undefined) connection.group = copies.get(connection.group);
    }
  }

  delete(group: LiveGroup): void {
    this.byKey.delete(group.key);
    this.index.delete(group.host, group.port, group.direction);
  }
}

/**
 * A live group with its own copy of `counts`. One literal with every field,
 * not fields added later: those would live apart from the object, and a
 * scrape reads every group. Its own literals, not hostGroup's or
 * copyCounts': V8 decides per place of allocation whether objects start in
 * the old generation, and these live long where a scrape's copies do not;
 * sharing the place made the snapshot six times slower.
 */
function liveGroup(
  labels: GroupLabels,
  counts: PhaseCounts,
  entries: number,
  key = groupKey(labels),
): LiveGroup {
  return {
    host: labels.host,
    port: labels.port,
    direction: labels.direction,
    key,
    entries,
    counts: {
      opening: counts.opening,
      open: counts.open,
      closing: counts.closing,
      closed: counts.closed,
    },
  };
}

/** The original tuple and zone: what the kernel itself tells entries apart by (identityKey). */
export const entryKey: (entry: EntryIdentity) => string = identityKey;

/** The inverse of entryKey. */
export function identityOfKey(key: string): EntryIdentity {
  const [family, src = '', srcPort, dst = '', dstPort, zone] = key.split('|');
  return {
    family: family === '6' ? 6 : 4,
    original: { src, srcPort: Number(srcPort), dst, dstPort: Number(dstPort) },
    zone: Number(zone),
  };
}

/**
 * The conntrack table kept current from events, with the per-group counts
 * of the connection gauges maintained as it changes, so a scrape costs
 * O(groups) instead of O(entries). An entry is classified once, when it
 * appears (same rules as dump mode: countedFlow and phaseOf); local
 * addresses may change later, so `replace` classifies everything again.
 */
export class LiveTable {
  private entries = new Map<string, Connection>();
  private groups = new Groups();
  private due = new DueList();
  private options: AggregateOptions;
  /** conntrack_connections_{opened,closed}_total. */
  readonly lifecycle: PerHostCounters<LifecycleKind>;

  /**
   * `silent`: where the entries the kernel may send no event for are kept
   * (see replace's trackSilent); without it, none are.
   */
  constructor(
    options: LiveTableOptions,
    private readonly now: () => number = Date.now,
    private readonly silent?: SilentList,
  ) {
    this.options = options;
    this.lifecycle = new PerHostCounters(
      LIFECYCLE_KINDS,
      options.counterRetentionMs ?? DEFAULT_COUNTER_RETENTION_MS,
      now,
    );
  }

  /** Entries held, counted or left out. */
  get size(): number {
    return this.entries.size;
  }

  /** Entries known only from a read of the table, which may never send an event. */
  get silentEntries(): number {
    return this.silent?.size ?? 0;
  }

  /**
   * What a check of silent entries found changed in the kernel's table.
   * Each takes its current TCP state, or ends (counted closed) when it is
   * gone or its tuple belongs to a new connection, whose NEW event is on its
   * way: a silent entry sends no event of its own, so this is all that can
   * be known of it. Returns how many ended.
   */
  applyChecks(changes: readonly SilentChange[]): number {
    let ended = 0;
    for (const { key, id, now } of changes) {
      const known = this.entries.get(key);
      // Events speak for it now (the list forgot it as they came).
      if (known === undefined || known.id !== id) continue;
      if (!now.gone) {
        if (now.state !== undefined) setState(known, now.state);
        continue;
      }
      remove(this.entries, this.groups, key, known);
      tallyChange(this.lifecycle, known, undefined);
      ended++;
    }
    return ended;
  }

  /** The TCP state last known for the entry's connection (same kernel id). */
  stateOf(entry: ConntrackEntry): TcpState | undefined {
    return this.knownOf(entry)?.state;
  }

  /** What the table holds of the entry's connection (same kernel id), if anything. */
  knownOf(entry: ConntrackEntry): KnownConnection | undefined {
    const known = this.entries.get(entryKey(entry));
    return known?.id === entry.id ? known : undefined;
  }

  get localAddresses(): ReadonlySet<string> {
    return this.options.localAddresses;
  }

  /** The rules entries are classified by now. */
  get classification(): AggregateOptions {
    return this.options;
  }

  /**
   * Applies one event as it arrives, counting the connections that appear
   * and end; `watcher` sees it first, with what the table knew of its
   * connection (found by the same lookup).
   */
  apply(event: ConntrackEvent, watcher?: EventWatcher, batch?: EventBatch): void {
    const { silent } = this;
    applyEvent(
      this.entries,
      this.groups,
      this.options,
      this.now,
      event,
      this.due,
      this.lifecycle,
      watcher,
      batch,
      silent !== undefined && silent.size > 0 ? silent : undefined,
    );
  }

  /**
   * Keys of counted entries whose timeout ran out with no event since,
   * at most `max` of them (the rest stay due): the kernel forgets such an
   * entry only when its garbage collection passes by, up to a minute
   * later, and sends its DESTROY event then. A lookup of an entry that has
   * run out has the kernel reap it at once, DESTROY event included, as a
   * read of the table does; one that packets renewed is answered with its
   * new timeout (renewDue). Entries in ESTABLISHED are not watched (days of
   * timeout; the periodic re-read catches those).
   */
  dueKeys(max: number): string[] {
    const nowMs = this.now();
    const nowCs = centiseconds(nowMs);
    const second = Math.floor(nowMs / 1000);
    const keys: string[] = [];
    for (const key of this.due.takeUntil(second)) {
      const connection = this.entries.get(key);
      // Gone, listed twice, or renewed by an event since it was listed.
      if (connection === undefined || connection.dueCs === 0 || connection.dueCs > nowCs) continue;
      if (keys.length >= max) {
        this.due.add(key, second);
        continue;
      }
      connection.dueCs = 0;
      keys.push(key);
    }
    return keys;
  }

  /**
   * What a lookup of dueKeys() found still in the kernel's table: packets
   * renewed their timeouts, which are watched again. Those not found were
   * reaped by the lookup, and their DESTROY events end them as usual.
   * Returns how many were still the connections held (renewed).
   */
  renewDue(found: Iterable<ConntrackEntry>): number {
    const nowMs = this.now();
    let renewed = 0;
    for (const entry of found) {
      const key = entryKey(entry);
      const connection = this.entries.get(key);
      // Another connection on the tuple: the one held is gone.
      if (connection === undefined || connection.id !== entry.id) continue;
      renewed++;
      // Not 0: an event came meanwhile and scheduled it itself.
      if (connection.dueCs === 0) scheduleExpiry(this.due, key, connection, entry.timeout, nowMs);
    }
    return renewed;
  }

  /** Entries listed as due some time (a key may be listed more than once). */
  get dueListed(): number {
    return this.due.size;
  }

  /**
   * Replaces the content with a fresh read of the table, then the events
   * that arrived while it was being read, in order (each was also applied
   * as it came). Entries the table did not know count as opened, entries it
   * held that are gone as closed; an entry on both sides with the same
   * kernel id is the same connection and counts for nothing.
   *
   * `trackSilent` lists the entries that no event has mentioned as silent:
   * with net.netfilter.nf_conntrack_events=2 the kernel sends no event at
   * all for entries created while nobody listened. Otherwise the silent
   * entries stay listed (and their round goes on), less those gone.
   */
  replace(
    read: Iterable<ConntrackEntry>,
    during: Iterable<ConntrackEvent>,
    options: AggregateOptions = this.options,
    trackSilent = false,
  ): ResyncResult {
    const entries = new Map<string, Connection>();
    const groups = new Groups();
    const due = new DueList();
    for (const entry of read) {
      insert(entries, groups, options, this.now, entryKey(entry), entry, false, due);
    }
    for (const event of during) applyEvent(entries, groups, options, this.now, event, due);
    groups.compact(entries.values());

    const result: ResyncResult = { appeared: 0, vanished: 0 };
    const { silent } = this;
    const relist = trackSilent ? silent : undefined;
    if (trackSilent && relist === undefined) throw new Error('no list to keep silent entries in');
    const wasSilent = relist !== undefined && relist.size > 0 ? new Set(relist.keys()) : undefined;
    const silentLines: string[] = [];
    let kept = 0;
    for (const [key, fresh] of entries) {
      const old = this.entries.get(key);
      if (old !== undefined && old.id === fresh.id) {
        kept++;
        fresh.sinceCs = old.sinceCs;
        fresh.startKnown = old.startKnown;
        if (wasSilent?.has(key)) silentLines.push(silentLine(key, fresh.id, fresh.state));
        continue;
      }
      result.appeared++;
      tallyChange(this.lifecycle, undefined, fresh);
      if (trackSilent) silentLines.push(silentLine(key, fresh.id, fresh.state));
    }
    relist?.replace(silentLines.join('\n'));
    // Usually every connection held is still there: then none vanished, and
    // the held ones need no second pass of lookups over the whole table.
    if (kept < this.entries.size) {
      // Silent entries that vanished leave the list too.
      const listed = relist === undefined && (silent?.size ?? 0) > 0 ? silent : undefined;
      for (const [key, old] of this.entries) {
        const fresh = entries.get(key);
        if (fresh === undefined || fresh.id !== old.id) {
          result.vanished++;
          tallyChange(this.lifecycle, old, undefined);
          listed?.forget(key);
        }
      }
    }
    this.entries = entries;
    this.groups = groups;
    this.due = due;
    this.options = options;
    return result;
  }

  /**
   * A copy of the groups with at least one counted connection, as dump
   * mode's aggregate gives them. A list, not a map by key: a scrape only
   * walks it, and filling a map cost twice the copy itself.
   */
  snapshot(): HostGroup[] {
    const copy: HostGroup[] = [];
    for (const group of this.groups.byKey.values()) {
      if (totalOf(group.counts) === 0) continue;
      // Written out, not hostGroup(): see liveGroup on places of allocation.
      const { host, port, direction, counts } = group;
      const { opening, open, closing, closed } = counts;
      copy.push({ host, port, direction, counts: { opening, open, closing, closed } });
    }
    return copy;
  }

  /**
   * Every counted connection as the long-term count sees it, aged from its
   * start (kernel timestamp) or first sighting. O(connections): only asked
   * for when the long-term metric is on.
   */
  *longtermCandidates(nowSeconds: number): Iterable<LongtermCandidate> {
    for (const connection of this.entries.values()) {
      const { group } = connection;
      if (group === undefined) continue;
      yield {
        family: group.host.includes(':') ? 6 : 4,
        state: connection.state,
        direction: group.direction,
        // A loopback connection's remote, the server side, is this host.
        localResponder:
          group.direction === 'inbound' || this.options.localAddresses.has(group.host),
        port: group.port,
        ageSeconds: nowSeconds - startedAtMs(connection) / 1000,
      };
    }
  }
}

/** What is counted of a connection: its kernel id and its group, if counted. */
type Counted = Pick<Connection, 'id'> & { group: GroupLabels | undefined };

/**
 * The one place connections are counted opened and closed: the connection
 * held under one key went from `before` to `after` (either may be
 * undefined, for none). The same connection (same kernel id) counts for
 * nothing; otherwise `before` ended and `after` appeared. Connections the
 * metrics leave out (no group) count for nothing.
 */
function tallyChange(
  tallies: PerHostCounters<LifecycleKind>,
  before: Counted | undefined,
  after: Counted | undefined,
): void {
  if (before !== undefined && after !== undefined && before.id === after.id) return;
  if (before?.group) tallies.add(before.group, 'closed');
  if (after?.group) tallies.add(after.group, 'opened');
}

/**
 * One event against a table. Without `tallies` (replaying events onto a
 * fresh read) nothing is counted: the resync's diff does the counting.
 * With `silent`, the entry leaves the list of silent entries.
 */
function applyEvent(
  entries: Map<string, Connection>,
  groups: Groups,
  options: AggregateOptions,
  now: () => number,
  event: ConntrackEvent,
  due: DueList,
  tallies?: PerHostCounters<LifecycleKind>,
  watcher?: EventWatcher,
  batch?: EventBatch,
  silent?: SilentList,
): void {
  const { type, entry } = event;
  const key = entryKey(entry);
  const known = entries.get(key);
  // Events tell its story from now on. Only an entry the table holds can be
  // listed: a NEW event's entry never is, and costs no call into the list.
  if (silent !== undefined && known !== undefined) silent.forget(key);
  const same = known !== undefined && known.id === entry.id;
  if (watcher !== undefined && batch !== undefined) watcher(event, same ? known : undefined, batch);
  if (type === 'destroy') {
    if (same) {
      remove(entries, groups, key, known);
      if (tallies) tallyChange(tallies, known, undefined);
    } else if (tallies) {
      // A connection whose NEW was lost (the overflow is being repaired):
      // it still opened and ended.
      const flow = countedFlow(entry, options);
      if (flow) {
        const lost: Counted = { id: entry.id, group: labelsOfFlow(flow) };
        tallyChange(tallies, undefined, lost);
        tallyChange(tallies, lost, undefined);
      }
    }
    return;
  }
  if (same) {
    // Only a change of TCP state carries the state; other updates keep it.
    if (entry.tcpState !== undefined) setState(known, entry.tcpState);
    // Every event carries the timeout as it is now.
    scheduleExpiry(due, key, known, entry.timeout, now());
    return;
  }
  if (known !== undefined) {
    // The tuple was reused by a new connection; the old one's DESTROY was lost.
    remove(entries, groups, key, known);
  }
  const added = insert(entries, groups, options, now, key, entry, type === 'new', due);
  if (tallies) tallyChange(tallies, known, added);
}

function insert(
  entries: Map<string, Connection>,
  groups: Groups,
  options: AggregateOptions,
  now: () => number,
  key: string,
  entry: ConntrackEntry,
  /** Whether the entry comes from its NEW event (or from a read, or a later event). */
  fromNew: boolean,
  due: DueList,
): Connection {
  const flow = countedFlow(entry, options);
  const group = flow && groups.of(flow);
  if (group) group.entries++;
  const nowMs = now();
  const connection: Connection = {
    id: entry.id,
    state: undefined,
    group,
    sinceCs: centiseconds(entry.startNs === undefined ? nowMs : Number(entry.startNs / 1_000_000n)),
    startKnown: fromNew || entry.startNs !== undefined,
    dueCs: 0,
  };
  setState(connection, entry.tcpState);
  entries.set(key, connection);
  scheduleExpiry(due, key, connection, entry.timeout, nowMs);
  return connection;
}

/** `ms` since the epoch in the units of Connection.sinceCs. */
function centiseconds(ms: number): number {
  return Math.floor((ms - TIME_ORIGIN_MS) / 10);
}

/**
 * Lists a counted connection as due when its timeout (`timeoutSeconds`
 * from now, as the kernel last gave it) runs out, unless it is ESTABLISHED
 * (see LiveTable.dueKeys).
 */
function scheduleExpiry(
  due: DueList,
  key: string,
  connection: Connection,
  timeoutSeconds: number,
  nowMs: number,
): void {
  const { state } = connection;
  if (connection.group === undefined || state === undefined || state === TcpState.Established) {
    connection.dueCs = 0;
    return;
  }
  // The kernel gives whole seconds, rounded down: one more, so that a
  // lookup comes after the entry has run out, not just before.
  const dueMs = nowMs + (Math.max(0, timeoutSeconds) + 1) * 1000;
  connection.dueCs = centiseconds(dueMs);
  due.add(key, Math.ceil(dueMs / 1000));
}

function remove(
  entries: Map<string, Connection>,
  groups: Groups,
  key: string,
  connection: Connection,
): void {
  entries.delete(key);
  const { group } = connection;
  if (group === undefined) return;
  move(group, phaseOf(connection.state), undefined);
  if (--group.entries === 0) groups.delete(group);
}

function setState(connection: Connection, state: TcpState | undefined): void {
  if (connection.group) move(connection.group, phaseOf(connection.state), phaseOf(state));
  connection.state = state;
}

function move(group: LiveGroup, from?: ConnectionPhase, to?: ConnectionPhase): void {
  if (from !== undefined) group.counts[from]--;
  if (to !== undefined) group.counts[to]++;
}
