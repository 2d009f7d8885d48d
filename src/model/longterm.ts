import { ConntrackEntry, TcpState } from '../conntrack/types';
import { Direction, viewFlow } from './flow';

/** Where a connection's age comes from; the metric's HELP text says which. */
export type AgeSource = 'kernel-timestamp' | 'first-seen';

export interface LongtermOptions {
  /** Connections established at least this long are counted. */
  minAgeSeconds: number;
  /** Observe only this local port; undefined for all. */
  port?: number;
  /** Count IPv6 connections too. */
  includeIPv6: boolean;
  /** The exporter's own listen port, never counted. */
  ownPort?: number;
}

/** What the count needs to know of one connection, whichever mode read it. */
export interface LongtermCandidate {
  family: 4 | 6;
  state: TcpState | undefined;
  direction: Direction;
  /**
   * Whether this host answered it: every inbound connection, and the server
   * side of a loopback one (which is counted once, as outbound, elsewhere).
   */
  localResponder: boolean;
  /** The service port: for a connection this host answered, the local one. */
  port: number;
  ageSeconds: number;
}

/** Long-lived connections per local port and IP version ("4" or "6"). */
export type LongtermCounts = Map<string, { port: number; tcpVersion: '4' | '6'; count: number }>;

/**
 * Remembers when each connection was first seen, for kernels without
 * nf_conntrack_timestamp. Entries not seen in a pass are forgotten, so the
 * memory follows the table.
 */
export class FirstSeen {
  private seen = new Map<string, number>();

  /** Ages (seconds) of `entries` at `nowMs`, remembering new ones; forgets the rest. */
  pass(entries: readonly ConntrackEntry[], nowMs: number): number[] {
    const next = new Map<string, number>();
    const ages = entries.map((entry) => {
      const key = flowKey(entry);
      const first = this.seen.get(key) ?? nowMs;
      next.set(key, first);
      return (nowMs - first) / 1000;
    });
    this.seen = next;
    return ages;
  }

  get size(): number {
    return this.seen.size;
  }
}

/** The identity of a flow: the kernel's id, and its original tuple in case ids are reused. */
export function flowKey(entry: ConntrackEntry): string {
  const o = entry.original;
  return `${entry.id}|${o.src}|${o.srcPort}|${o.dst}|${o.dstPort}`;
}

/** Age in seconds from the kernel's start timestamp, if it has one. */
export function kernelAge(entry: ConntrackEntry, nowMs: number): number | undefined {
  if (entry.startNs === undefined) return undefined;
  return (nowMs - Number(entry.startNs / 1_000_000n)) / 1000;
}

/**
 * The candidates of a dump: each entry's direction and service port, and
 * its age from the kernel's timestamp, else from `firstSeen`.
 */
export function dumpCandidates(
  entries: readonly ConntrackEntry[],
  isLocal: (address: string) => boolean,
  firstSeen: FirstSeen,
  nowMs: number,
): LongtermCandidate[] {
  const seenAges = firstSeen.pass(entries, nowMs);
  return entries.map((entry, index) => {
    const flow = viewFlow(entry, isLocal);
    return {
      family: entry.family,
      state: entry.tcpState,
      direction: flow.direction,
      localResponder: flow.localResponder,
      port: flow.port,
      ageSeconds: kernelAge(entry, nowMs) ?? seenAges[index]!,
    };
  });
}

/**
 * Counts ESTABLISHED connections to this host's ports (inbound, and local
 * ones from this host to itself) that are at least `minAgeSeconds` old.
 */
export function countLongterm(
  candidates: Iterable<LongtermCandidate>,
  options: LongtermOptions,
): LongtermCounts {
  const counts: LongtermCounts = new Map();
  for (const connection of candidates) {
    if (connection.state !== TcpState.Established) continue;
    if (!connection.localResponder) continue;
    if (connection.family === 6 && !options.includeIPv6) continue;
    if (connection.port === options.ownPort) continue;
    if (options.port !== undefined && connection.port !== options.port) continue;
    if (connection.ageSeconds < options.minAgeSeconds) continue;
    const tcpVersion = connection.family === 6 ? '6' : '4';
    const key = `${connection.port}|${tcpVersion}`;
    const current = counts.get(key);
    if (current) current.count++;
    else counts.set(key, { port: connection.port, tcpVersion, count: 1 });
  }
  return counts;
}
