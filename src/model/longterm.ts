import { ConntrackEntry, TcpState } from '../conntrack/types';
import { viewFlow } from './flow';

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
 * Counts inbound ESTABLISHED connections to this host's ports that are at
 * least `minAgeSeconds` old. `ageOf(entry, index)` gives each entry's age.
 */
export function countLongterm(
  entries: readonly ConntrackEntry[],
  ageOf: (entry: ConntrackEntry, index: number) => number,
  isLocal: (address: string) => boolean,
  options: LongtermOptions,
): LongtermCounts {
  const counts: LongtermCounts = new Map();
  entries.forEach((entry, index) => {
    if (entry.tcpState !== TcpState.Established) return;
    if (entry.family === 6 && !options.includeIPv6) return;
    const flow = viewFlow(entry, isLocal);
    if (flow.direction !== 'inbound') return;
    if (flow.port === options.ownPort) return;
    if (options.port !== undefined && flow.port !== options.port) return;
    if (ageOf(entry, index) < options.minAgeSeconds) return;
    const tcpVersion = entry.family === 6 ? '6' : '4';
    const key = `${flow.port}|${tcpVersion}`;
    const current = counts.get(key);
    if (current) current.count++;
    else counts.set(key, { port: flow.port, tcpVersion, count: 1 });
  });
  return counts;
}
