import { HostGroup } from './aggregate';
import { Direction } from './flow';
import { GroupBy, networkOf } from './network';
import { ConnectionPhase, PHASES } from './tcp-state';

/** The host label of the hosts beyond --max-hosts, and the port label of the ports beyond --max-ports-per-host. */
export const OTHER = 'other';

/** One label set of the connection gauges: what a scrape exports. */
export interface Series {
  /** A host name, an address, a network ("198.51.100.0/24") or "other". */
  host: string;
  port: number | typeof OTHER;
  direction: Direction;
  counts: Record<ConnectionPhase, number>;
}

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
 */
export function toSeries(groups: Iterable<HostGroup>, options: SeriesOptions): SeriesSet {
  const { groupBy, nameOf, ignoreName } = options;
  const kept: HostGroup[] = [];
  for (const group of groups) {
    const name = ignoreName === undefined ? undefined : nameOf?.(group.host);
    if (name === undefined || !ignoreName?.(name, group.port)) kept.push(group);
  }
  const hostOf = hostKey(groupBy);
  const ranked = rankHosts(kept, hostOf);
  const own = new Set(ranked.slice(0, options.maxHosts));
  const labelOf = (host: string): string => {
    if (!own.has(host)) return OTHER;
    return groupBy === undefined ? (nameOf?.(host) ?? host) : host;
  };

  const merged = new Map<string, Series>();
  for (const group of kept) {
    addTo(merged, labelOf(hostOf(group.host)), group.port, group.direction, group.counts);
  }
  return {
    series: capPorts(merged.values(), options.maxPortsPerHost),
    foldedHosts: Math.max(0, ranked.length - options.maxHosts),
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
  return rankHosts(all, (address) => address).slice(0, options.maxHosts);
}

export function totalOf(counts: Record<ConnectionPhase, number>): number {
  let total = 0;
  for (const phase of PHASES) total += counts[phase];
  return total;
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

/** Distinct hosts, most connections first; ties in host text order. */
function rankHosts(groups: readonly HostGroup[], hostOf: (address: string) => string): string[] {
  const totals = new Map<string, number>();
  for (const group of groups) {
    const host = hostOf(group.host);
    totals.set(host, (totals.get(host) ?? 0) + totalOf(group.counts));
  }
  return [...totals]
    .sort(([a, totalA], [b, totalB]) => totalB - totalA || compareText(a, b))
    .map(([host]) => host);
}

function capPorts(series: Iterable<Series>, maxPorts: number): Series[] {
  const byHost = new Map<string, Series[]>();
  for (const one of series) {
    const list = byHost.get(one.host);
    if (list === undefined) byHost.set(one.host, [one]);
    else list.push(one);
  }
  const result: Series[] = [];
  for (const list of byHost.values()) {
    if (list.length <= maxPorts) {
      result.push(...list);
      continue;
    }
    list.sort(
      (a, b) =>
        totalOf(b.counts) - totalOf(a.counts) ||
        compareText(a.direction, b.direction) ||
        Number(a.port) - Number(b.port),
    );
    result.push(...list.slice(0, maxPorts));
    const folded = new Map<string, Series>();
    for (const one of list.slice(maxPorts)) {
      addTo(folded, one.host, OTHER, one.direction, one.counts);
    }
    result.push(...folded.values());
  }
  return result;
}

function addTo(
  series: Map<string, Series>,
  host: string,
  port: number | typeof OTHER,
  direction: Direction,
  counts: Record<ConnectionPhase, number>,
): void {
  const key = `${direction}|${host}|${port}`;
  let one = series.get(key);
  if (one === undefined) {
    one = { host, port, direction, counts: { opening: 0, open: 0, closing: 0, closed: 0 } };
    series.set(key, one);
  }
  for (const phase of PHASES) one.counts[phase] += counts[phase];
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
