import { Direction } from './flow';
import { addCounts, copyCounts, GroupIndex, HostGroup, PhaseCounts, totalOf } from './group';
import { GroupBy, networkOf } from './network';
import { CountedSeries, OTHER, SeriesMapping } from './series-mapping';

export { OTHER };

/**
 * One label set of the connection gauges: what a scrape exports. Its host
 * is a host name, an address, a network ("198.51.100.0/24") or "other".
 */
export type Series = CountedSeries;

export interface SeriesOptions {
  /** How many remote hosts (or networks) keep a host label of their own. */
  maxHosts: number;
  /** How many (port, direction) pairs each host label keeps; the rest become port "other". */
  maxPortsPerHost: number;
  /** Group remote addresses into networks of these prefix lengths; names are then not used. */
  groupBy?: GroupBy;
  /** The known name of an address, if any; synchronous, so it never waits on DNS. */
  nameOf?: (address: string) => string | undefined;
  /** Flows to a host whose name matches are left out (--ignore-hosts names). */
  ignoreName?: (name: string, port: number) => boolean;
}

export interface SeriesSet {
  series: Series[];
  /** Remote hosts (or networks) that lost their own label to host="other". */
  foldedHosts: number;
  /** Which series any group, in the table or not, is counted in by this scrape's ranking. */
  mapping: SeriesMapping;
}

/**
 * Turns the aggregated groups of a snapshot into the series to export, with
 * a hard bound on their number.
 *
 * 1. Groups whose remote host has a name matching `ignoreName` are dropped.
 * 2. With `groupBy`, remote addresses become their networks.
 * 3. Hosts are ranked by their connections (all ports, directions and
 *    phases); the first `maxHosts` keep their label (the name when known,
 *    else the address), the rest become host "other". Ties go to the
 *    lower host text, so equal counts give the same choice every scrape.
 * 4. Groups that now share a label (two addresses with the same name) merge.
 * 5. Each host label, "other" included, keeps its `maxPortsPerHost` busiest
 *    (port, direction) pairs; the rest are summed per direction as port
 *    "other". Without this, the hosts folded into "other" could still bring
 *    one series per port they use.
 *
 * So each connection gauge has at most (maxHosts + 1) x (maxPortsPerHost + 3)
 * series, and every connection is in exactly one of them: the totals across
 * series equal the totals across groups.
 *
 * The mapping tells the same for groups that are not in `groups` too (see
 * SeriesMapping), for the counters that outlive connections.
 */
export function toSeries(groups: Iterable<HostGroup>, options: SeriesOptions): SeriesSet {
  const { groupBy, nameOf, ignoreName } = options;
  const ignored = (address: string, port: number): boolean => {
    const name = ignoreName === undefined ? undefined : nameOf?.(address);
    return name !== undefined && ignoreName !== undefined && ignoreName(name, port);
  };
  const kept: HostGroup[] = [];
  for (const group of groups) if (!ignored(group.host, group.port)) kept.push(group);
  const hostOf = hostKey(groupBy);
  const totals = hostTallies(kept, hostOf);
  // Ranking sorts every host; when all of them keep their label it changes nothing.
  const own = totals.size <= options.maxHosts ? undefined : ownHosts(totals, options.maxHosts);
  const ownLabel = (host: string): string =>
    groupBy === undefined ? (nameOf?.(host) ?? host) : host;
  const labelOf = (host: string): string =>
    own !== undefined && !own.has(host) ? OTHER : ownLabel(host);
  const mappingOf = (series: readonly Series[]) =>
    new SeriesMapping(series, {
      maxHosts: options.maxHosts,
      maxPortsPerHost: options.maxPortsPerHost,
      hostOf,
      labelOfKnown: (host) => (totals.has(host) ? labelOf(host) : undefined),
      ownLabel,
      labelledHosts: Math.min(totals.size, options.maxHosts),
      ignored: (group) => ignored(group.host, group.port),
    });
  if (own === undefined && groupBy === undefined && nameOf === undefined) {
    // Every host keeps its address as its label, so no two groups share a
    // series: when no host has more ports than it may keep, each group is a
    // series as it is, without the regrouping below (a third of a scrape's
    // series work at 1,000 hosts).
    const series = unmerged(kept, totals, options.maxPortsPerHost);
    if (series !== undefined) return { series, foldedHosts: 0, mapping: mappingOf(series) };
  }

  // By label set: no key string per group, and the series of a host label
  // are already together for capPorts.
  const byLabel = new GroupIndex<Series>();
  for (const group of kept) {
    const label = labelOf(hostOf(group.host));
    const sum = byLabel.get(label, group.port, group.direction);
    if (sum === undefined) {
      byLabel.set(
        label,
        group.port,
        group.direction,
        seriesOf(label, group.port, group, group.counts),
      );
    } else addCounts(sum.counts, group.counts);
  }
  const series = capPorts(byLabel, options.maxPortsPerHost);
  return {
    series,
    foldedHosts: Math.max(0, totals.size - options.maxHosts),
    mapping: mappingOf(series),
  };
}

/**
 * The addresses whose names `toSeries` will read: every address when names
 * decide what is ignored, none when hosts are grouped into networks, else
 * only those that keep their own label. Looking up just these keeps DNS
 * traffic bounded by --max-hosts however many clients a server has.
 */
export function addressesToName(groups: Iterable<HostGroup>, options: SeriesOptions): string[] {
  const all = [...groups];
  if (options.ignoreName !== undefined) return [...new Set(all.map((group) => group.host))];
  if (options.groupBy !== undefined) return [];
  return rankHosts(hostTallies(all, (address) => address)).slice(0, options.maxHosts);
}

function hostKey(groupBy: GroupBy | undefined): (address: string) => string {
  if (groupBy === undefined) return (address) => address;
  // Many groups share an address (one per port and direction).
  const networks = new Map<string, string>();
  return (address) => {
    let network = networks.get(address);
    if (network === undefined) {
      network = networkOf(address, groupBy);
      networks.set(address, network);
    }
    return network;
  };
}

/** A host's connections (all ports, directions and phases) and groups. */
interface HostTally {
  connections: number;
  groups: number;
}

/** Each host's tally, in one pass: this runs over every group at every scrape. */
function hostTallies(
  groups: readonly HostGroup[],
  hostOf: (address: string) => string,
): Map<string, HostTally> {
  const tallies = new Map<string, HostTally>();
  for (const group of groups) {
    const host = hostOf(group.host);
    const tally = tallies.get(host);
    if (tally === undefined) tallies.set(host, { connections: totalOf(group.counts), groups: 1 });
    else {
      tally.connections += totalOf(group.counts);
      tally.groups++;
    }
  }
  return tallies;
}

/** Distinct hosts, most connections first; ties in host text order. */
function rankHosts(totals: ReadonlyMap<string, HostTally>): string[] {
  return [...totals]
    .sort(
      ([a, { connections: totalA }], [b, { connections: totalB }]) =>
        totalB - totalA || compareText(a, b),
    )
    .map(([host]) => host);
}

function ownHosts(totals: ReadonlyMap<string, HostTally>, maxHosts: number): Set<string> {
  return new Set(rankHosts(totals).slice(0, maxHosts));
}

function capPorts(byLabel: GroupIndex<Series>, maxPorts: number): Series[] {
  const result: Series[] = [];
  for (const [host, ports] of byLabel.hosts()) {
    if (ports.size <= maxPorts) {
      for (const one of ports.values()) result.push(one);
      continue;
    }
    const list = [...ports.values()].sort(
      (a, b) =>
        totalOf(b.counts) - totalOf(a.counts) ||
        compareText(a.direction, b.direction) ||
        Number(a.port) - Number(b.port),
    );
    result.push(...list.slice(0, maxPorts));
    const folded = new Map<Direction, Series>();
    for (const one of list.slice(maxPorts)) {
      const sum = folded.get(one.direction);
      if (sum === undefined) folded.set(one.direction, seriesOf(host, OTHER, one, one.counts));
      else addCounts(sum.counts, one.counts);
    }
    result.push(...folded.values());
  }
  return result;
}

/**
 * Each group as its own series; undefined when some host has more than
 * `maxPorts` groups (`byAddress`: the groups' tallies by address). The
 * series are the groups themselves, not copies: a scrape's groups are its
 * own (a copy of the live table, or a dump's aggregate) and neither they
 * nor the series are changed once made, so a second copy of 1,000 hosts'
 * groups per scrape was garbage only.
 */
function unmerged(
  groups: readonly HostGroup[],
  byAddress: ReadonlyMap<string, HostTally>,
  maxPorts: number,
): Series[] | undefined {
  for (const tally of byAddress.values()) if (tally.groups > maxPorts) return undefined;
  return groups.slice();
}

/** A series with its own copy of `counts`; the labels but host and port are the group's. */
function seriesOf(
  host: string,
  port: Series['port'],
  labels: Omit<Series, 'host' | 'port' | 'counts'>,
  counts: PhaseCounts,
): Series {
  return { host, port, direction: labels.direction, counts: copyCounts(counts) };
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
