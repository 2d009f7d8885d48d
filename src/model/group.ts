import { Direction, FlowView } from './flow';
import { ConnectionPhase } from './tcp-state';

/**
 * The label set of the per-host metrics: one group of connections. Every
 * per-host series (the connection gauges, the opened/closed counters) is
 * keyed by these fields, and this file is where they are spelled out: the
 * key string, the index, and the copy of a group. A new label is a field
 * here, in GroupIndex's slot, and in the text collectors' label writer.
 */
export interface GroupLabels {
  /** The remote address (a name, a network or "other" once turned into series). */
  host: string;
  port: number;
  direction: Direction;
}

/** Connections of one group per phase. */
export type PhaseCounts = Record<ConnectionPhase, number>;

/** Connection counts of one (remote host, service port, direction). */
export interface HostGroup extends GroupLabels {
  counts: PhaseCounts;
}

/** The key of a group as a string: what the snapshot's map and the tallies are keyed by. */
export function groupKey(labels: GroupLabels): string {
  return `${labels.direction}|${labels.host}|${labels.port}`;
}

/** The labels alone, copied out of a larger object. */
export function labelsOf(labels: GroupLabels): GroupLabels {
  return { host: labels.host, port: labels.port, direction: labels.direction };
}

/** The labels of the group a counted flow belongs to. */
export function labelsOfFlow(flow: FlowView): GroupLabels {
  return { host: flow.remote, port: flow.port, direction: flow.direction };
}

/** A group with its own copy of `counts`; named fields, not a spread: this runs per group per scrape. */
export function hostGroup(labels: GroupLabels, counts: PhaseCounts): HostGroup {
  return {
    host: labels.host,
    port: labels.port,
    direction: labels.direction,
    counts: copyCounts(counts),
  };
}

export function zeroCounts(): PhaseCounts {
  return { opening: 0, open: 0, closing: 0, closed: 0 };
}

export function copyCounts(counts: PhaseCounts): PhaseCounts {
  return {
    opening: counts.opening,
    open: counts.open,
    closing: counts.closing,
    closed: counts.closed,
  };
}

// Named fields, not a loop over PHASES: these run per group per scrape, and
// a load by a phase name in a variable is several times slower.

export function addCounts(sum: PhaseCounts, counts: PhaseCounts): void {
  sum.opening += counts.opening;
  sum.open += counts.open;
  sum.closing += counts.closing;
  sum.closed += counts.closed;
}

export function totalOf(counts: PhaseCounts): number {
  return counts.opening + counts.open + counts.closing + counts.closed;
}

const DIRECTION_INDEX: Record<Direction, number> = { outbound: 0, inbound: 1, forwarded: 2 };

/**
 * Values by label set, found by host, then by port and direction as one
 * number. Finding a group is done for every entry of every read of the
 * table and every event; a key string made and hashed anew each time cost
 * more than the rest of it, where the host string is shared by all the
 * entries of one read and hashed once. A port that is not a number (port
 * "other" of the series) gets a slot of its own below zero.
 */
export class GroupIndex<V> {
  private readonly byHost = new Map<string, Map<number, V>>();

  get(host: string, port: number | string, direction: Direction): V | undefined {
    return this.byHost.get(host)?.get(slot(port, direction));
  }

  set(host: string, port: number | string, direction: Direction, value: V): void {
    let ports = this.byHost.get(host);
    if (ports === undefined) {
      ports = new Map();
      this.byHost.set(host, ports);
    }
    ports.set(slot(port, direction), value);
  }

  delete(host: string, port: number | string, direction: Direction): void {
    const ports = this.byHost.get(host);
    if (ports === undefined) return;
    ports.delete(slot(port, direction));
    if (ports.size === 0) this.byHost.delete(host);
  }

  /** Each host with its values, the values of one host together. */
  hosts(): IterableIterator<[string, ReadonlyMap<number, V>]> {
    return this.byHost.entries();
  }

  /** The values of each host, those of one host together. */
  hostValues(): IterableIterator<ReadonlyMap<number, V>> {
    return this.byHost.values();
  }

  /**
   * Drops the values `keep` refuses. With forEach, not for...of over
   * entries, which makes a [key, value] array per value: run over every
   * series at every scrape, those were a tenth of a scrape's garbage.
   */
  retain(keep: (value: V) => boolean): void {
    // One closure for all hosts, not one per host.
    let ports: Map<number, V>;
    const visit = (value: V, key: number) => {
      if (!keep(value)) ports.delete(key);
    };
    this.byHost.forEach((hostPorts, host) => {
      ports = hostPorts;
      hostPorts.forEach(visit);
      if (hostPorts.size === 0) this.byHost.delete(host);
    });
  }
}

function slot(port: number | string, direction: Direction): number {
  return (typeof port === 'number' ? port : -1) * 3 + DIRECTION_INDEX[direction];
}
