import { ConntrackError, ConntrackEntry, readTable } from '../conntrack';
import { ACCOUNTING_OFF, accountingOn } from '../conntrack/accounting';
import { EnvironmentError } from '../errors';
import type { EventsMode } from '../events/start';
import { TrafficReads } from '../events/traffic-reads';
import { explainReadError } from '../conntrack/explain';
import { Logger } from '../log';
import { AggregateOptions } from '../model/classify';
import { PerHostCounters } from '../model/per-host-counters';
import { TRAFFIC_KINDS, TrafficCounts, TrafficKind } from '../model/traffic';
import { TrafficConfig } from '../options/traffic';

/** The traffic counters: what counts them, and the per-host counters they fold into. */
export interface Traffic {
  counts: TrafficCounts;
  counters: PerHostCounters<TrafficKind>;
  close(): void;
}

/**
 * Starts counting traffic from a first read of the table (the baseline, see
 * TrafficCounts): in events mode a read of its own, then DESTROY events and
 * a read every --traffic-interval; in dump mode the read made at start
 * (`startRead`), then each scrape's. Says in one line when the kernel's
 * accounting is off. Throws an EnvironmentError when the table cannot be read.
 */
export async function startTraffic(
  config: TrafficConfig,
  events: EventsMode | undefined,
  startRead: readonly ConntrackEntry[] | undefined,
  dumpClassification: () => AggregateOptions,
  log: Logger,
): Promise<Traffic> {
  const on = accountingOn();
  if (on === false) log.warn(ACCOUNTING_OFF);
  if (on === undefined) {
    log.warn(
      'cannot read net.netfilter.nf_conntrack_acct (/proc/sys/net/netfilter/nf_conntrack_acct): ' +
        'the traffic counters are absent while it cannot be read',
    );
  }
  const counters = new PerHostCounters(TRAFFIC_KINDS);
  if (events === undefined) {
    const counts = new TrafficCounts(counters, dumpClassification);
    counts.readStarted();
    counts.applyRead(startRead ?? []);
    return { counts, counters, close: () => undefined };
  }
  const counts = new TrafficCounts(counters, () => events.live.table.classification);
  const reads = new TrafficReads({
    counts,
    read: readTable,
    stream: events.stream,
    intervalMs: config.readIntervalMs,
    log,
  });
  try {
    await reads.start();
  } catch (error) {
    reads.close();
    throw new EnvironmentError(explainReadError(error as ConntrackError));
  }
  return { counts, counters, close: () => reads.close() };
}
