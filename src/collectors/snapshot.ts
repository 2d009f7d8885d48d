import { TableUsage } from '../conntrack/table-usage';
import { HostGroup } from '../model/group';
import { LongtermCounts } from '../model/longterm';

/** What one read of the conntrack table found; shared by every collector of a scrape. */
export interface Snapshot {
  /** Connection counts per remote host, port and direction; undefined when the read failed. */
  groups?: ReadonlyMap<string, HostGroup>;
  error?: Error;
  table?: TableUsage;
  /** Long-lived inbound connections, when that metric is on. */
  longterm?: LongtermCounts;
  durationSeconds: number;
}

/**
 * Hands out snapshots so that everything asking at the same time gets the
 * same one: the collectors of one scrape, and concurrent scrapes, share a
 * single read of the table.
 */
export class SnapshotSource {
  private inFlight: Promise<Snapshot> | undefined;

  constructor(private readonly take: () => Promise<Snapshot>) {}

  get(): Promise<Snapshot> {
    this.inFlight ??= this.take().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }
}
