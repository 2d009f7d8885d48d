import type { ConntrackEvent } from '../conntrack/events';
import { ASSURED, TcpState } from '../conntrack/types';
import { AggregateOptions, countedFlow } from './classify';
import { GroupIndex, GroupLabels, labelsOfFlow } from './group';
import { bucketOf, Histogram } from './histogram';
import { KnownConnection, startedAtMs } from './live-table';
import { DEFAULT_COUNTER_RETENTION_MS, PerHostCounters } from './per-host-counters';

/** How a connection failed (see failureOf). */
export const FAILURE_REASONS = ['refused', 'timeout', 'reset'] as const;

export type FailureReason = (typeof FAILURE_REASONS)[number];

/** What the per-host lifetime series add up: seconds lived, and connections. */
export const LIFETIME_KINDS = ['sum', 'count'] as const;

export type LifetimeKind = (typeof LIFETIME_KINDS)[number];

/**
 * Connect times in seconds. A lost SYN is sent again after 1 s, then 3 s
 * after the first (1 s, then doubling): the bounds just above 1 and 3 tell
 * connects that needed one or two retransmissions from those that needed
 * none.
 */
export const CONNECT_BUCKETS = [0.001, 0.005, 0.025, 0.1, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5];

/** Lifetimes in seconds: under 1 s, about a request; up to a day, a pool. */
export const LIFETIME_BUCKETS = [0.1, 1, 10, 60, 600, 3600, 86_400];

const OPENING = new Set([TcpState.SynSent, TcpState.SynSent2, TcpState.SynRecv]);

/**
 * Whether the event ends a connection attempt or a connection in failure,
 * from the TCP state the event carries, the state the table knew before it
 * and the ASSURED status bit (set once the handshake completed):
 *
 * - refused: the entry reaches CLOSE (a reset) without ever being ASSURED:
 *   the SYN was answered by a reset, nothing listens.
 * - reset: the entry reaches CLOSE from ESTABLISHED, FIN_WAIT, CLOSE_WAIT or
 *   LAST_ACK: established, then ended by a reset rather than a close (a
 *   reset in TIME_WAIT, after a clean close, is none).
 * - timeout: the entry is destroyed in SYN_SENT, SYN_SENT2 or SYN_RECV: it
 *   expired (or was dropped) while still opening, with no answer to the SYN
 *   or no final ACK.
 *
 * A DESTROY carries the final TCP state on kernels that send it (the one
 * this was tested on does); without it, the state last known decides, so
 * an attempt the kernel killed at once on a reset counts as a timeout
 * there. Each connection counts once at most: its CLOSE is reached once.
 */
export function failureOf(
  event: ConntrackEvent,
  knownState: TcpState | undefined,
): FailureReason | undefined {
  const { type, entry } = event;
  const state = entry.tcpState ?? (type === 'destroy' ? knownState : undefined);
  if (state === TcpState.Close) {
    if (knownState === TcpState.Close) return undefined;
    if ((entry.status & ASSURED) === 0) return 'refused';
    return knownState !== undefined && knownState !== TcpState.TimeWait && !OPENING.has(knownState)
      ? 'reset'
      : undefined;
  }
  if (type === 'destroy' && state !== undefined && OPENING.has(state)) return 'timeout';
  return undefined;
}

/** What one raw group counted since the last flush: every family at once, one lookup per event. */
interface Tally {
  labels: GroupLabels;
  failures: Record<FailureReason, number>;
  lifetimeSum: number;
  /** Per bucket of LIFETIME_BUCKETS, then +Inf. */
  lifetimes: number[];
  connectSum: number;
  /** Per bucket of CONNECT_BUCKETS, then +Inf. */
  connects: number[];
}

export interface LinkHealthOptions {
  /** Which flows count, as the table classifies them now. */
  classification: () => AggregateOptions;
  retentionMs?: number;
  now?: () => number;
}

/**
 * Failures, connect times and lifetimes per remote host and port, counted
 * from events as they arrive (LiveSync's onEvent): never from a read of the
 * table, which shows states, not how they changed.
 */
export class LinkHealth {
  /** conntrack_connection_failures_total, by reason. */
  readonly failures: PerHostCounters<FailureReason>;
  /** conntrack_connection_lifetime_seconds: sum and count per host, port and direction. */
  readonly lifetimes: PerHostCounters<LifetimeKind>;
  /** conntrack_connect_duration_seconds, per port and direction. */
  readonly connectTimes: Histogram;
  /** conntrack_connection_lifetime_by_port_seconds, per port and direction. */
  readonly lifetimesByPort: Histogram;
  /** When each connection seen opening sent its first SYN (its NEW event), by kernel id. */
  private readonly opening = new Map<number, number>();
  private tallies = new GroupIndex<Tally>();

  constructor(private readonly options: LinkHealthOptions) {
    const retention = options.retentionMs ?? DEFAULT_COUNTER_RETENTION_MS;
    const now = options.now ?? Date.now;
    this.failures = new PerHostCounters(FAILURE_REASONS, retention, now);
    this.lifetimes = new PerHostCounters(LIFETIME_KINDS, retention, now);
    this.connectTimes = new Histogram(CONNECT_BUCKETS, retention, now);
    this.lifetimesByPort = new Histogram(LIFETIME_BUCKETS, retention, now);
  }

  /** One event as it arrives, with what the table knew of its connection, at `atMs`. */
  onEvent(event: ConntrackEvent, known: KnownConnection | undefined, atMs: number): void {
    const { type, entry } = event;
    const state = entry.tcpState;
    if (type === 'new') {
      if (state !== undefined && OPENING.has(state)) this.opening.set(entry.id, atMs);
      return;
    }
    const knownState = known?.state;
    if (state === TcpState.Established && this.opening.size > 0) {
      const since = this.opening.get(entry.id);
      if (since !== undefined) {
        this.opening.delete(entry.id);
        const group = this.groupOf(event, known);
        if (group) {
          const seconds = Math.max(0, atMs - since) / 1000;
          const tally = this.tallyOf(group);
          tally.connects[bucketOf(CONNECT_BUCKETS, seconds)]!++;
          tally.connectSum += seconds;
        }
      }
    }
    const failure = failureOf(event, knownState);
    if (failure !== undefined) {
      const group = this.groupOf(event, known);
      if (group) this.tallyOf(group).failures[failure]++;
    }
    if (known?.startKnown && endsLife(event, knownState)) {
      const { group } = known;
      if (group) {
        const seconds = Math.max(0, atMs - startedAtMs(known)) / 1000;
        const tally = this.tallyOf(group);
        tally.lifetimes[bucketOf(LIFETIME_BUCKETS, seconds)]!++;
        tally.lifetimeSum += seconds;
      }
    }
    if (type === 'destroy') this.opening.delete(entry.id);
  }

  /** Hands what was counted since the last flush to the families, before a scrape folds them. */
  flush(): void {
    const tallies = this.tallies;
    this.tallies = new GroupIndex();
    for (const ports of tallies.hostValues()) {
      for (const tally of ports.values()) {
        const { labels, failures } = tally;
        if (failures.refused + failures.timeout + failures.reset > 0) {
          const pending = this.failures.pendingOf(labels);
          for (const reason of FAILURE_REASONS) pending[reason] += failures[reason];
        }
        const lived = sum(tally.lifetimes);
        if (lived > 0) {
          const pending = this.lifetimes.pendingOf(labels);
          pending.sum += tally.lifetimeSum;
          pending.count += lived;
          this.lifetimesByPort.add(labels, tally.lifetimes, tally.lifetimeSum);
        }
        if (sum(tally.connects) > 0)
          this.connectTimes.add(labels, tally.connects, tally.connectSum);
      }
    }
  }

  /** Forgets connects whose end never came (lost in an overflow) after the retention. */
  prune(nowMs: number): void {
    const oldest = nowMs - (this.options.retentionMs ?? DEFAULT_COUNTER_RETENTION_MS);
    // In order of insertion, so the oldest come first.
    for (const [id, since] of this.opening) {
      if (since >= oldest) break;
      this.opening.delete(id);
    }
  }

  private tallyOf(group: GroupLabels): Tally {
    let tally = this.tallies.get(group.host, group.port, group.direction);
    if (tally === undefined) {
      tally = {
        labels: group,
        failures: { refused: 0, timeout: 0, reset: 0 },
        lifetimeSum: 0,
        lifetimes: new Array<number>(LIFETIME_BUCKETS.length + 1).fill(0),
        connectSum: 0,
        connects: new Array<number>(CONNECT_BUCKETS.length + 1).fill(0),
      };
      this.tallies.set(group.host, group.port, group.direction, tally);
    }
    return tally;
  }

  private groupOf(
    event: ConntrackEvent,
    known: KnownConnection | undefined,
  ): GroupLabels | undefined {
    if (known !== undefined) return known.group;
    // Not in the table (its NEW was lost): classified as the table would.
    const flow = countedFlow(event.entry, this.options.classification());
    return flow && labelsOfFlow(flow);
  }
}

/**
 * Whether the event ends an established connection's life: the first event
 * in TIME_WAIT or CLOSE (both FINs, or a reset), or the DESTROY of one
 * that reached neither. Not the DESTROY after TIME_WAIT: that comes when
 * the kernel's TIME_WAIT timeout (2 minutes by default) ran out, which says
 * nothing of the connection.
 */
function endsLife(event: ConntrackEvent, knownState: TcpState | undefined): boolean {
  if ((event.entry.status & ASSURED) === 0) return false;
  if (knownState === TcpState.TimeWait || knownState === TcpState.Close) return false;
  const state = event.entry.tcpState;
  return event.type === 'destroy' || state === TcpState.TimeWait || state === TcpState.Close;
}

function sum(values: readonly number[]): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}
