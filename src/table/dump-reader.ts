import { dump } from '../conntrack';
import { readTableUsage } from '../conntrack/table-usage';
import { Logger } from '../log';
import { aggregate } from '../model/aggregate';
import { AggregateOptions } from '../model/classify';
import { localAddresses } from '../model/local-addresses';
import { countLongterm, dumpCandidates, FirstSeen, LongtermOptions } from '../model/longterm';
import { Traffic } from './traffic';
import { Snapshot, TableReader, timedRead } from './reader';

export interface DumpReaderOptions extends Omit<AggregateOptions, 'localAddresses'> {
  /** The long-term count; not counted when undefined. */
  longterm?: LongtermOptions;
  /** The traffic counters, counted from each read of the table; not counted when undefined. */
  traffic?: Traffic;
  log: Logger;
}

/** Dump mode: the whole table read and aggregated at every scrape. */
export class DumpReader implements TableReader {
  // Ages for the long-term count on kernels without timestamps; empty otherwise.
  private readonly firstSeen = new FirstSeen();

  constructor(private readonly options: DumpReaderOptions) {}

  async read(): Promise<Snapshot> {
    const { ownPort, ignore, longterm, traffic, log } = this.options;
    // The counters are there even when this read failed: they are not this read's.
    const counters = traffic && { traffic: traffic.counters };
    const snapshot = await timedRead(log, async () => {
      const [entries, usage] = await Promise.all([dump(), readTableUsage()]);
      const local = localAddresses();
      const classification = { localAddresses: local, ownPort, ignore };
      const groups = aggregate(entries, classification);
      // Dump mode sees no DESTROY: what a connection moved after the last
      // read that found it is not counted.
      traffic?.counts.readStarted();
      traffic?.counts.applyRead(entries, classification);
      const counts =
        longterm &&
        countLongterm(
          dumpCandidates(entries, (address) => local.has(address), this.firstSeen, Date.now()),
          longterm,
        );
      log.debug(`read ${entries.length} TCP entries into ${groups.length} series groups`);
      return { groups, table: usage, longterm: counts };
    });
    return counters === undefined ? snapshot : { ...snapshot, counters };
  }
}
