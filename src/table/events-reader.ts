import { readTableUsage } from '../conntrack/table-usage';
import { EventsMode } from '../events/start';
import { Logger } from '../log';
import { timed } from '../collectors/scrape-timing';
import { countLongterm, LongtermOptions } from '../model/longterm';
import { CounterFamilies, EventsFigures, Snapshot, TableReader, timedRead } from './reader';
import { Traffic } from './traffic';

export interface EventsReaderOptions {
  /** The long-term count; not counted when undefined. */
  longterm?: LongtermOptions;
  /** The traffic counters, counted in the background; off when undefined. */
  traffic?: Traffic;
  log: Logger;
}

/**
 * Events mode: the live table answers in O(groups). After the event stream
 * failed, the table is read whole by `fallback` instead, while events
 * mode's own figures are still reported.
 */
export class EventsReader implements TableReader {
  constructor(
    private readonly events: EventsMode,
    private readonly fallback: TableReader,
    private readonly options: EventsReaderOptions,
  ) {}

  async read(): Promise<Snapshot> {
    const { live } = this.events;
    const { longterm, log } = this.options;
    // A failed stream, or events switched off in the kernel, leaves only a read of the whole table.
    const snapshot =
      (await this.events.usableLive()) !== undefined
        ? await timedRead(log, async () => {
            const [groups, usage] = await Promise.all([
              timed('table', () => live.snapshot()),
              readTableUsage(),
            ]);
            const counts =
              longterm && countLongterm(live.table.longtermCandidates(Date.now() / 1000), longterm);
            return { groups, table: usage, longterm: counts };
          })
        : await this.fallback.read();
    return {
      ...snapshot,
      counters: timed('lifecycle', () => this.counters()),
      events: this.figures(),
    };
  }

  private counters(): CounterFamilies {
    const { live, linkHealth } = this.events;
    const lifecycle = live.table.lifecycle;
    const traffic = this.options.traffic?.counters;
    if (linkHealth === undefined) return { lifecycle, traffic };
    linkHealth.prune(Date.now());
    linkHealth.flush();
    return {
      lifecycle,
      traffic,
      failures: linkHealth.failures,
      lifetimes: linkHealth.lifetimes,
      connectTimes: linkHealth.connectTimes.counters,
      lifetimesByPort: linkHealth.lifetimesByPort.counters,
    };
  }

  private figures(): EventsFigures {
    const { live, eventLog } = this.events;
    const { events, overflows, resyncs, silentLookups, expiryLookups } = live.stats;
    return {
      failed: live.failed !== undefined,
      stats: {
        events: { ...events },
        overflows,
        resyncs: { ...resyncs },
        silentLookups: { ...silentLookups },
        expiryLookups: { ...expiryLookups },
      },
      liveEntries: live.table.size,
      silentEntries: live.table.silentEntries,
      logDroppedLines: eventLog?.dropped,
    };
  }
}
