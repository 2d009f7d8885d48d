import { ConntrackEntry } from '../conntrack/types';
import { AggregateOptions, countedFlow } from './classify';
import { GroupIndex, HostGroup, hostGroup, labelsOfFlow, zeroCounts } from './group';
import { phaseOf } from './tcp-state';

/**
 * Groups TCP entries by remote host, service port and direction, counting
 * each phase. Entries with no TCP state, and those countedFlow leaves out,
 * are skipped.
 */
export function aggregate(
  entries: Iterable<ConntrackEntry>,
  options: AggregateOptions,
): HostGroup[] {
  const groups: HostGroup[] = [];
  // This runs once per entry of the table: found through the index, not
  // by a key string made per entry.
  const index = new GroupIndex<HostGroup>();
  for (const entry of entries) {
    const phase = phaseOf(entry.tcpState);
    if (phase === undefined) continue;
    const flow = countedFlow(entry, options);
    if (flow === undefined) continue;
    let group = index.get(flow.remote, flow.port, flow.direction);
    if (group === undefined) {
      group = hostGroup(labelsOfFlow(flow), zeroCounts());
      index.set(group.host, group.port, group.direction, group);
      groups.push(group);
    }
    group.counts[phase]++;
  }
  return groups;
}
