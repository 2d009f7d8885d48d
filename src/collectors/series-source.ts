import { HostLabelConfig } from '../options/host-label-config';
import { DnsCache } from '../model/dns-cache';
import { HostFilter } from '../model/host-filter';
import { addressesToName, SeriesOptions, SeriesSet, toSeries } from '../model/series';
import { SnapshotSource } from './snapshot';

/** What the connection gauges export in one scrape; `series` is undefined when the read failed. */
export type SeriesView = Partial<SeriesSet>;

/**
 * Turns each scrape's snapshot into bounded, named series. Sits after the
 * SnapshotSource, so it does not matter how the snapshot was made (a dump
 * or a live table), and like it hands the same result to every collector
 * of a scrape.
 */
export class SeriesSource {
  private inFlight: Promise<SeriesView> | undefined;
  private readonly options: SeriesOptions;

  constructor(
    private readonly snapshots: SnapshotSource,
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

  get(): Promise<SeriesView> {
    this.inFlight ??= this.take().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async take(): Promise<SeriesView> {
    const snapshot = await this.snapshots.get();
    if (snapshot.groups === undefined) return {};
    const groups = [...snapshot.groups.values()];
    if (this.names !== undefined && this.config.dns !== undefined) {
      const wanted = addressesToName(groups, this.options);
      // Hosts whose names are not back within the budget keep their address
      // for this scrape; their lookups go on and name them next time.
      if (wanted.length > 0) await this.names.refreshWithin(wanted, this.config.dns.budgetMs);
    }
    return toSeries(groups, this.options);
  }
}
