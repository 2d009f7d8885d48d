import { HostLabelConfig } from '../options/host-label-config';
import { DnsCache, DnsStats } from '../model/dns-cache';
import { HostFilter } from '../model/host-filter';
import { addressesToName, SeriesOptions, SeriesSet, toSeries } from '../model/series';
import { SeriesMapping } from '../model/series-mapping';
import { CounterFamilies, CounterRows, Snapshot, TableReader } from '../table/reader';
import { timed } from './scrape-timing';
import { SingleFlight } from './single-flight';

/** What the connection gauges export in one scrape; `series` is undefined when the read failed. */
export type SeriesView = Partial<Omit<SeriesSet, 'mapping'>>;

/** Reverse DNS as it was once this scrape's names were looked up. */
export interface DnsFigures {
  stats: DnsStats;
  /** Addresses held in the cache, with a name or without. */
  entries: number;
}

/** Everything one scrape reports: the table's snapshot, its series, and DNS. */
export interface Scrape extends Snapshot, SeriesView {
  /** Undefined without name resolution. */
  dns?: DnsFigures;
  /** The per-host counters' series (events mode), folded by this scrape's ranking. */
  counted?: Partial<CounterRows>;
}

/** Where a collector gets the scrape, reading only the fields `K`. */
export interface ScrapeReader<K extends keyof Scrape = keyof Scrape> {
  get(): Promise<Pick<Scrape, K>>;
}

/**
 * Reads the table once per scrape, and turns its groups into bounded,
 * named series. The one cache of a scrape: every collector, and every
 * scrape that asks meanwhile, gets the same result.
 */
export class ScrapeSource implements ScrapeReader {
  private readonly flight = new SingleFlight(() => this.take());
  private readonly options: SeriesOptions;

  constructor(
    private readonly reader: TableReader,
    private readonly config: HostLabelConfig,
    ignoreHosts: HostFilter,
    private readonly names?: DnsCache,
  ) {
    this.options = {
      maxHosts: config.maxHosts,
      maxPortsPerHost: config.maxPortsPerHost,
      groupBy: config.groupBy,
      nameOf: names && ((address) => names.nameOf(address)),
      ignoreName:
        names && ignoreHosts.names.length > 0
          ? (name, port) => ignoreHosts.matchesName(name, port)
          : undefined,
    };
  }

  get(): Promise<Scrape> {
    return this.flight.get();
  }

  private async take(): Promise<Scrape> {
    const snapshot = await this.reader.read();
    const { counters } = snapshot;
    if (snapshot.groups === undefined) {
      // Without a ranking the counts wait for the next scrape that has one.
      return { ...snapshot, counted: counters && rowsOf(counters), dns: this.dnsFigures() };
    }
    const { groups } = snapshot;
    if (this.names !== undefined && this.config.dns !== undefined) {
      const wanted = addressesToName(groups, this.options);
      // Hosts whose names are not back within the budget keep their address
      // for this scrape; their lookups go on and name them next time.
      if (wanted.length > 0) await this.names.refreshWithin(wanted, this.config.dns.budgetMs);
    }
    const { series, foldedHosts, mapping } = timed('series', () => toSeries(groups, this.options));
    return {
      ...snapshot,
      series,
      foldedHosts,
      counted: counters && rowsOf(counters, mapping),
      dns: this.dnsFigures(),
    };
  }

  private dnsFigures(): DnsFigures | undefined {
    const { names } = this;
    if (names === undefined) return undefined;
    const { lookups, hits, failures } = names.stats;
    return { stats: { lookups, hits, failures: { ...failures } }, entries: names.size };
  }
}

/** Every family's series; folded first when the scrape ranked the hosts. */
function rowsOf(families: CounterFamilies, mapping?: SeriesMapping): Partial<CounterRows> {
  const rows: Partial<Record<keyof CounterFamilies, unknown>> = {};
  for (const name of Object.keys(families) as (keyof CounterFamilies)[]) {
    const family = families[name];
    if (family !== undefined)
      rows[name] = mapping === undefined ? family.rows() : family.fold(mapping);
  }
  return rows as Partial<CounterRows>;
}
