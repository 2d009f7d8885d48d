import type { ConntrackEvent } from '../conntrack/events';
import { Logger } from '../log';
import { TrafficCounts } from '../model/traffic';
import { EventSource, TableRead } from './live-sync';
import { withoutYoungGenerationGrowth } from './young-generation';

export interface TrafficReadsOptions {
  counts: TrafficCounts;
  /** Reads the whole table; it may decode entries only as they are iterated. */
  read: () => Promise<TableRead>;
  /** The event stream: DESTROY events carry a connection's final counts. */
  stream: EventSource;
  /** How often the live connections' counts are read; 0: only when they end. */
  intervalMs: number;
  log: Logger;
}

/**
 * Events mode's traffic counts: the final counts of every connection from
 * its DESTROY event, and the current counts of live ones from a read of
 * the whole table every interval, in the background. A scrape never waits
 * for a read: it exports what the last one found. Reads never overlap; a
 * tick that finds one still running is skipped.
 */
export class TrafficReads {
  private reading: Promise<void> | undefined;
  private closed = false;
  private failing = false;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly onEvents = (events: ConntrackEvent[]) => {
    const { counts } = this.options;
    for (const event of events) if (event.type === 'destroy') counts.ended(event.entry);
  };

  constructor(private readonly options: TrafficReadsOptions) {
    options.stream.on('events', this.onEvents);
    if (options.intervalMs > 0) {
      this.timer = setInterval(() => {
        if (this.reading === undefined) void this.read();
      }, options.intervalMs).unref();
    }
  }

  /** The first read: the baseline the counts start from. Rejects when the table cannot be read. */
  start(): Promise<void> {
    return this.read(true);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.options.stream.off('events', this.onEvents);
  }

  private read(rethrow = false): Promise<void> {
    const { counts, log } = this.options;
    counts.readStarted();
    const reading = this.options
      .read()
      .then((entries) => {
        try {
          // The first read's last counts all live on (see withoutYoungGenerationGrowth).
          if (!this.closed) withoutYoungGenerationGrowth(() => counts.applyRead(entries));
        } finally {
          entries.release?.();
        }
        if (this.failing) log.info("reading the connections' traffic counts works again");
        this.failing = false;
      })
      .catch((error: Error) => {
        // One line per episode, not one per interval.
        if (!this.failing) {
          log.warn(
            `reading the connections' traffic counts failed: ${error.message}; ` +
              'trying again every --traffic-interval',
          );
        }
        this.failing = true;
        if (rethrow) throw error;
      })
      .finally(() => (this.reading = undefined));
    this.reading = reading;
    return reading;
  }
}
