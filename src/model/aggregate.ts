import { ConntrackEntry } from '../conntrack/types';
import { Direction, viewFlow } from './flow';
import { HostFilter } from './host-filter';
import { ConnectionPhase, phaseOf } from './tcp-state';

/** Connection counts of one (remote host, service port, direction). */
export interface HostGroup {
  host: string;
  port: number;
  direction: Direction;
  counts: Record<ConnectionPhase, number>;
}

export interface AggregateOptions {
  /** This host's own addresses. */
  localAddresses: ReadonlySet<string>;
  /** Flows to this local port are left out (the exporter's own), unless undefined. */
  ownPort?: number;
  ignore?: HostFilter;
}

const DIRECTION_INDEX: Record<Direction, number> = { outbound: 0, inbound: 1, forwarded: 2 };
const DIRECTIONS = 3;

/** A (port, direction) pair as one number, for maps that would otherwise key on a string. */
export function portSlot(port: number, direction: Direction): number {
  return port * DIRECTIONS + DIRECTION_INDEX[direction];
}

/**
 * Groups TCP entries by remote host, service port and direction, counting
 * each phase. Entries with no TCP state are skipped.
 */
export function aggregate(
  entries: Iterable<ConntrackEntry>,
  options: AggregateOptions,
): Map<string, HostGroup> {
  const { localAddresses, ownPort, ignore } = options;
  const isLocal = (address: string) => localAddresses.has(address);
  const groups = new Map<string, HostGroup>();
  // Found by remote address, then by port and direction as one number: this
  // runs once per entry of the table, and a key string made per entry (and
  // hashed anew each time) cost more than the rest of the loop.
  const byRemote = new Map<string, Map<number, HostGroup>>();
  for (const entry of entries) {
    const phase = phaseOf(entry.tcpState);
    if (phase === undefined) continue;
    const flow = viewFlow(entry, isLocal);
    if (flow.localResponder && flow.port === ownPort) continue;
    if (ignore?.matches(flow.remote, flow.port)) continue;
    let hostGroups = byRemote.get(flow.remote);
    if (hostGroups === undefined) {
      hostGroups = new Map();
      byRemote.set(flow.remote, hostGroups);
    }
    const portKey = portSlot(flow.port, flow.direction);
    let group = hostGroups.get(portKey);
    if (group === undefined) {
      group = {
        host: flow.remote,
        port: flow.port,
        direction: flow.direction,
        counts: { opening: 0, open: 0, closing: 0, closed: 0 },
      };
      hostGroups.set(portKey, group);
      groups.set(`${flow.direction}|${flow.remote}|${flow.port}`, group);
    }
    group.counts[phase]++;
  }
  return groups;
}
