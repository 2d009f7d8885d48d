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
  /** The read that last found it. */
  seen: number;
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
  private readonly last = new Map<string, LastCounts>();
  private baselined = false;
  private reads = 0;
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
   *
   * Most entries of a large table are idle between two reads: for them this
   * is a lookup and four comparisons, with nothing allocated but the key.
   */
  applyRead(
    entries: Iterable<ConntrackEntry>,
    classification: AggregateOptions = this.classification(),
  ): void {
    const ended = this.endedDuringRead;
    this.endedDuringRead = undefined;
    const read = ++this.reads;
    for (const entry of entries) {
      const { counters } = entry;
      if (counters === undefined) continue;
      const key = entryKey(entry);
      if (ended !== undefined && ended.size > 0 && ended.has(endedKey(key, entry.id))) continue;
      const known = this.last.get(key);
      if (known !== undefined && known.id === entry.id) {
        known.seen = read;
        this.advance(entry, known, counters, classification);
        continue;
      }
      const now = lastCounts(entry.id, counters, read);
      // Not baselined yet: this is the first read, whose past is not counted.
      if (this.baselined) this.count(entry, now, classification);
      this.last.set(key, now);
    }
    for (const [key, last] of this.last) if (last.seen !== read) this.last.delete(key);
    this.baselined = true;
  }

  /** A DESTROY event: the connection's final counts, less what was counted of it. */
  ended(entry: ConntrackEntry): void {
    const key = entryKey(entry);
    this.endedDuringRead?.add(endedKey(key, entry.id));
    const known = this.last.get(key);
    const same = known !== undefined && known.id === entry.id;
    if (same) this.last.delete(key);
    // Before the baseline, a connection not yet known may be older than it.
    if (!this.baselined || entry.counters === undefined) return;
    if (same) this.advance(entry, known, entry.counters, this.classification());
    else this.count(entry, lastCounts(entry.id, entry.counters, 0), this.classification());
  }

  /**
   * Counts what moved since `last` and makes `now` the last reading. Counts
   * only grow while an entry lives; a smaller one (a read older than what is
   * known) adds nothing rather than going back.
   */
  private advance(
    entry: ConntrackEntry,
    last: LastCounts,
    now: { original: Counters; reply: Counters },
    classification: AggregateOptions,
  ): void {
    const origPackets = Number(now.original.packets);
    const origBytes = Number(now.original.bytes);
    const replPackets = Number(now.reply.packets);
    const replBytes = Number(now.reply.bytes);
    if (
      origPackets <= last.origPackets &&
      origBytes <= last.origBytes &&
      replPackets <= last.replPackets &&
      replBytes <= last.replBytes
    ) {
      return;
    }
    const moved: Moved = {
      origPackets: Math.max(0, origPackets - last.origPackets),
      origBytes: Math.max(0, origBytes - last.origBytes),
      replPackets: Math.max(0, replPackets - last.replPackets),
      replBytes: Math.max(0, replBytes - last.replBytes),
    };
    last.origPackets += moved.origPackets;
    last.origBytes += moved.origBytes;
    last.replPackets += moved.replPackets;
    last.replBytes += moved.replBytes;
    this.count(entry, moved, classification);
  }

  private count(entry: ConntrackEntry, moved: Moved, classification: AggregateOptions): void {
    // Classified only when something moved: most entries of a large table are idle.
    const flow = countedFlow(entry, classification);
    if (flow === undefined) return;
    const labels = labelsOfFlow(flow);
    const sentOriginal = sendsOriginal(flow);
    this.add(labels, 'sent_bytes', sentOriginal ? moved.origBytes : moved.replBytes);
    this.add(labels, 'sent_packets', sentOriginal ? moved.origPackets : moved.replPackets);
    this.add(labels, 'received_bytes', sentOriginal ? moved.replBytes : moved.origBytes);
    this.add(labels, 'received_packets', sentOriginal ? moved.replPackets : moved.origPackets);
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

type Moved = Omit<LastCounts, 'id' | 'seen'>;

function lastCounts(
  id: number,
  counters: { original: Counters; reply: Counters },
  seen: number,
): LastCounts {
  return {
    id,
    origPackets: Number(counters.original.packets),
    origBytes: Number(counters.original.bytes),
    replPackets: Number(counters.reply.packets),
    replBytes: Number(counters.reply.bytes),
    seen,
  };
}

function endedKey(key: string, id: number): string {
  return `${key}#${id}`;
}
