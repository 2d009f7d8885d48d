import { ConntrackEntry, Counters } from '../conntrack/types';
import { AggregateOptions, countedFlow } from './classify';
import { FlowView } from './flow';
import { GroupLabels, labelsOfFlow } from './group';
import { entryKey } from './live-table';

/** What the traffic counters count, per group: both ways, bytes and packets. */
export const TRAFFIC_KINDS = [
  'sent_bytes',
  'received_bytes',
  'sent_packets',
  'received_packets',
] as const;

export type TrafficKind = (typeof TRAFFIC_KINDS)[number];

/** Where the traffic goes once counted: the per-host counters. */
export interface TrafficSink {
  add(labels: GroupLabels, kind: TrafficKind, amount: number): void;
}

/** The kernel's counts of one entry at its last reading; numbers, as no connection moves 2^53 bytes. */
interface LastCounts {
  id: number;
  origPackets: number;
  origBytes: number;
  replPackets: number;
  replBytes: number;
}

/**
 * Turns the kernel's per-connection byte and packet counts
 * (nf_conntrack_acct) into per-group increases, exactly once each:
 * connections are read again and again while they live (reads of the whole
 * table), and their final counts come with their DESTROY event. Each
 * reading adds only what moved since the connection's last reading, so a
 * long-lived connection's traffic shows while it flows and nothing is
 * counted twice.
 *
 * The first read of the table is the baseline: what the connections in it
 * moved before is not counted, since it happened before the exporter
 * watched (counting it would put hours of traffic into the first scrape's
 * interval, and a restart would count it again). Every connection first
 * seen later opened after that read, and counts from its start.
 *
 * A connection counts only if the kernel counts it: entries created while
 * accounting was off carry no counts for their whole life.
 */
export class TrafficCounts {
  private last = new Map<string, LastCounts>();
  private baselined = false;
  // Connections ended (DESTROY) while a read ran: that read still holds
  // them, with older counts, and must not count them again.
  private endedDuringRead: Set<string> | undefined;

  constructor(
    private readonly sink: TrafficSink,
    private readonly classification: () => AggregateOptions,
  ) {}

  /** Connections whose last counts are kept. */
  get size(): number {
    return this.last.size;
  }

  /** A read of the whole table starts: DESTROYs from now on are remembered until it is applied. */
  readStarted(): void {
    this.endedDuringRead = new Set();
  }

  /**
   * A read of the whole table, started with readStarted(): counts what each
   * connection moved since its last reading, and forgets connections that
   * are gone (their DESTROY was lost: what they moved since their last
   * reading is lost with it). Classified by `classification`, asked once
   * per read otherwise.
   */
  applyRead(
    entries: Iterable<ConntrackEntry>,
    classification: AggregateOptions = this.classification(),
  ): void {
    const ended = this.endedDuringRead ?? new Set<string>();
    this.endedDuringRead = undefined;
    const next = new Map<string, LastCounts>();
    for (const entry of entries) {
      const { counters } = entry;
      if (counters === undefined) continue;
      const key = entryKey(entry);
      if (ended.has(endedKey(key, entry.id))) continue;
      const known = this.last.get(key);
      const before = known !== undefined && known.id === entry.id ? known : undefined;
      const now = lastCounts(entry.id, counters);
      // Not baselined yet: this is the first read, whose past is not counted.
      if (this.baselined || before !== undefined) this.count(entry, before, now, classification);
      next.set(key, before === undefined ? now : highest(before, now));
    }
    this.last = next;
    this.baselined = true;
  }

  /** A DESTROY event: the connection's final counts, less what was counted of it. */
  ended(entry: ConntrackEntry): void {
    const key = entryKey(entry);
    this.endedDuringRead?.add(endedKey(key, entry.id));
    const known = this.last.get(key);
    if (known !== undefined && known.id === entry.id) this.last.delete(key);
    // Before the baseline, a connection not yet known may be older than it.
    if (!this.baselined || entry.counters === undefined) return;
    const before = known !== undefined && known.id === entry.id ? known : undefined;
    this.count(entry, before, lastCounts(entry.id, entry.counters), this.classification());
  }

  private count(
    entry: ConntrackEntry,
    before: LastCounts | undefined,
    now: LastCounts,
    classification: AggregateOptions,
  ): void {
    // Counts only grow while an entry lives; a smaller one (a read older
    // than what is known) adds nothing rather than going back.
    const origPackets = Math.max(0, now.origPackets - (before?.origPackets ?? 0));
    const origBytes = Math.max(0, now.origBytes - (before?.origBytes ?? 0));
    const replPackets = Math.max(0, now.replPackets - (before?.replPackets ?? 0));
    const replBytes = Math.max(0, now.replBytes - (before?.replBytes ?? 0));
    if (origPackets + origBytes + replPackets + replBytes === 0) return;
    // Classified only when something moved: most entries of a large table are idle.
    const flow = countedFlow(entry, classification);
    if (flow === undefined) return;
    const labels = labelsOfFlow(flow);
    const sentOriginal = sendsOriginal(flow);
    this.add(labels, 'sent_bytes', sentOriginal ? origBytes : replBytes);
    this.add(labels, 'sent_packets', sentOriginal ? origPackets : replPackets);
    this.add(labels, 'received_bytes', sentOriginal ? replBytes : origBytes);
    this.add(labels, 'received_packets', sentOriginal ? replPackets : origPackets);
  }

  private add(labels: GroupLabels, kind: TrafficKind, amount: number): void {
    if (amount > 0) this.sink.add(labels, kind, amount);
  }
}

/**
 * Whether the original direction (initiator to responder) is what goes to
 * the remote host: yes when the remote end answered (outbound; forwarded
 * flows are labelled by their destination too), no when it initiated
 * (inbound).
 */
export function sendsOriginal(flow: FlowView): boolean {
  return flow.direction !== 'inbound';
}

function lastCounts(id: number, counters: { original: Counters; reply: Counters }): LastCounts {
  return {
    id,
    origPackets: Number(counters.original.packets),
    origBytes: Number(counters.original.bytes),
    replPackets: Number(counters.reply.packets),
    replBytes: Number(counters.reply.bytes),
  };
}

function highest(a: LastCounts, b: LastCounts): LastCounts {
  return {
    id: a.id,
    origPackets: Math.max(a.origPackets, b.origPackets),
    origBytes: Math.max(a.origBytes, b.origBytes),
    replPackets: Math.max(a.replPackets, b.replPackets),
    replBytes: Math.max(a.replBytes, b.replBytes),
  };
}

function endedKey(key: string, id: number): string {
  return `${key}#${id}`;
}
