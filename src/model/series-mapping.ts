import { Direction } from './flow';
import { GroupIndex, GroupLabels, PhaseCounts, totalOf } from './group';

/** The host label of the hosts beyond --max-hosts, and the port label of the ports beyond --max-ports-per-host. */
export const OTHER = 'other';

/** The labels of one exported per-host series: port "other" included. */
export interface SeriesLabels extends Omit<GroupLabels, 'port'> {
  port: number | typeof OTHER;
}

/** A series of the gauges: its labels and its connections. */
export type CountedSeries = SeriesLabels & { counts: PhaseCounts };

/** Where a family of counters folds its counts at one scrape (see PerHostCounters). */
export interface FoldTarget {
  /** The series `group` is counted in now; undefined when it is left out. */
  labelsOf(group: GroupLabels): SeriesLabels | undefined;
  /** Whether this scrape has the label set (the gauges, or a counter that took room for it). */
  has(labels: SeriesLabels): boolean;
  /** How many series a family may hold. */
  maxSeries: number;
}

/** How one scrape's ranking labels hosts; made by toSeries. */
export interface HostRanking {
  /** --max-hosts and --max-ports-per-host. */
  maxHosts: number;
  maxPortsPerHost: number;
  /** The host (the address, or its network with --group-hosts-by) that is ranked. */
  hostOf(address: string): string;
  /** The label of a host the scrape's table has; undefined for a host it has not. */
  labelOfKnown(host: string): string | undefined;
  /** The label a host not in the table gets when there is room for one more host label. */
  ownLabel(host: string): string;
  /** Host labels the table's hosts hold, "other" not included. */
  labelledHosts: number;
  /** Left out, like the gauges leave it out (--ignore-hosts by name). */
  ignored(group: GroupLabels): boolean;
}

/**
 * Which exported series a group of connections belongs to at one scrape:
 * what the per-host counters fold their counts into (see PerHostCounters).
 *
 * A group of the scrape's table gets the series the gauges put it in. A
 * group that is not in the table (its connections came and went between
 * two scrapes) gets its host's label if the table's host has one; a host
 * the table does not have keeps a label of its own while the table's hosts
 * leave room under --max-hosts, else it is "other". Likewise its port is
 * the port when the host label has a series for it, or room for one more
 * (port, direction) pair under --max-ports-per-host, else "other". Room is
 * given first come, first served, and remembered for the whole scrape, so
 * every family of counters folds a group into the same series; and no more
 * series receive counts than the gauges may have: (N + 1) × (K + 3).
 */
export class SeriesMapping implements FoldTarget {
  /** What a counter family may hold at most: the gauges' bound. */
  readonly maxSeries: number;
  // Made at the first question: a scrape without counters (dump mode) never asks.
  private indexed = false;
  private readonly current = new GroupIndex<true>();
  /** Numeric (port, direction) pairs with a series, per host label. */
  private readonly ports = new Map<string, number>();
  /** Hosts not in the table, and the label each was given this scrape. */
  private readonly admitted = new Map<string, string>();
  private freeHosts: number;
  private portRanking: PortRanking | undefined;

  constructor(
    private readonly series: readonly CountedSeries[],
    private readonly ranking: HostRanking,
  ) {
    this.maxSeries = (ranking.maxHosts + 1) * (ranking.maxPortsPerHost + 3);
    this.freeHosts = Math.max(0, ranking.maxHosts - ranking.labelledHosts);
  }

  /**
   * The same for families labelled by port and direction alone (no host):
   * see PortRanking.
   */
  get byPort(): FoldTarget {
    this.portRanking ??= new PortRanking(this.series, this.ranking.maxPortsPerHost, (group) =>
      this.ranking.ignored(group),
    );
    return this.portRanking;
  }

  labelsOf(group: GroupLabels): SeriesLabels | undefined {
    if (this.ranking.ignored(group)) return undefined;
    this.index();
    const host = this.hostLabel(group.host);
    const { direction } = group;
    if (this.current.get(host, group.port, direction) !== undefined) {
      return { host, port: group.port, direction };
    }
    if ((this.ports.get(host) ?? 0) < this.ranking.maxPortsPerHost) {
      this.addSeries(host, group.port, direction);
      return { host, port: group.port, direction };
    }
    return { host, port: OTHER, direction };
  }

  has(labels: SeriesLabels): boolean {
    this.index();
    return this.current.get(labels.host, labels.port, labels.direction) !== undefined;
  }

  private index(): void {
    if (this.indexed) return;
    this.indexed = true;
    for (const one of this.series) this.addSeries(one.host, one.port, one.direction);
  }

  private hostLabel(address: string): string {
    const host = this.ranking.hostOf(address);
    const known = this.ranking.labelOfKnown(host);
    if (known !== undefined) return known;
    let label = this.admitted.get(host);
    if (label === undefined) {
      label = this.freeHosts > 0 ? this.ranking.ownLabel(host) : OTHER;
      if (label !== OTHER) this.freeHosts--;
      this.admitted.set(host, label);
    }
    return label;
  }

  private addSeries(host: string, port: number | string, direction: GroupLabels['direction']) {
    if (this.current.get(host, port, direction) !== undefined) return;
    this.current.set(host, port, direction, true);
    if (typeof port === 'number') this.ports.set(host, (this.ports.get(host) ?? 0) + 1);
  }
}

/** The host label of the series of a family labelled by port alone. */
const NO_HOST = '';

/**
 * Ports of one scrape for the families labelled by (port, direction) only:
 * per direction, the K ports (--max-ports-per-host) with the most
 * connections in the table's series keep their number, ties to the lower
 * port; a port not in the table keeps it while there is room under K
 * (first come, first served); the rest are "other". So such a family has
 * at most 3 × (K + 1) series.
 */
class PortRanking implements FoldTarget {
  readonly maxSeries: number;
  private readonly kept = new Map<Direction, Set<number>>();

  constructor(
    series: readonly CountedSeries[],
    private readonly maxPorts: number,
    private readonly ignored: (group: GroupLabels) => boolean,
  ) {
    this.maxSeries = 3 * (maxPorts + 1);
    const totals = new Map<Direction, Map<number, number>>();
    for (const one of series) {
      if (typeof one.port !== 'number') continue;
      let ports = totals.get(one.direction);
      if (ports === undefined) totals.set(one.direction, (ports = new Map()));
      ports.set(one.port, (ports.get(one.port) ?? 0) + totalOf(one.counts));
    }
    for (const [direction, ports] of totals) {
      const ranked = [...ports].sort(([a, totalA], [b, totalB]) => totalB - totalA || a - b);
      this.kept.set(direction, new Set(ranked.slice(0, maxPorts).map(([port]) => port)));
    }
  }

  labelsOf(group: GroupLabels): SeriesLabels | undefined {
    if (this.ignored(group)) return undefined;
    const { direction, port } = group;
    let kept = this.kept.get(direction);
    if (kept === undefined) this.kept.set(direction, (kept = new Set()));
    if (!kept.has(port) && kept.size < this.maxPorts) kept.add(port);
    return { host: NO_HOST, port: kept.has(port) ? port : OTHER, direction };
  }

  has(labels: SeriesLabels): boolean {
    return (
      typeof labels.port === 'number' &&
      (this.kept.get(labels.direction)?.has(labels.port) ?? false)
    );
  }
}
