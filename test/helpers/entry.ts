/** Conntrack entries for unit tests of the model, without a kernel. */
import type { Checked } from '../../src/conntrack';
import type { ConntrackEntry, TcpState } from '../../src/conntrack/types';
import { entryKey } from '../../src/model/live-table';

/** A TCP entry from `from` to `to` with no NAT: the reply tuple mirrors the original. */
export function tcpEntry(
  id: number,
  tcpState: TcpState | undefined,
  from: [string, number],
  to: [string, number],
): ConntrackEntry {
  return {
    family: from[0].includes(':') ? 6 : 4,
    tcpState,
    original: { src: from[0], srcPort: from[1], dst: to[0], dstPort: to[1] },
    reply: { src: to[0], srcPort: to[1], dst: from[0], dstPort: from[1] },
    status: 0,
    mark: 0,
    zone: 0,
    id,
    timeout: 60,
  };
}

/**
 * What the kernel answers a check of these connections (key and kernel id)
 * when its table holds `found`: the state of each still the same
 * connection, gone otherwise.
 */
export function checkedIn(
  found: readonly ConntrackEntry[],
  keys: readonly string[],
  ids: readonly number[],
): Checked[] {
  return keys.map((key, i) => {
    const entry = found.find((candidate) => entryKey(candidate) === key);
    return entry !== undefined && entry.id === ids[i]
      ? { gone: false, state: entry.tcpState }
      : { gone: true };
  });
}
