import { Argv } from 'yargs';

import { ArgsOf } from './args';
import { OptInCollector } from './collectors';
import { checkInterval } from './duration';

export type TrafficArgs = ArgsOf<typeof trafficOptions>;

/** The traffic counters, as the rest of the program takes them; off when undefined. */
export interface TrafficConfig {
  /** Events mode: how often the whole table is read for the counts of live connections; 0: never. */
  readIntervalMs: number;
}

/**
 * A read of the table for the counts costs about what a dump-mode scrape's
 * read costs (BENCHMARKS.md, make bench BENCH_ONLY=traffic). Every 2
 * minutes keeps it under a quarter of a CPU-second per minute at 100k
 * entries, well under half a CPU-second on a loaded machine, and
 * rate() over 5 minutes still sees two readings of a long-lived connection.
 */
export const DEFAULT_TRAFFIC_INTERVAL_S = 120;

export function trafficOptions<T>(y: Argv<T>) {
  return y.option('traffic-interval', {
    requiresArg: true,
    default: String(DEFAULT_TRAFFIC_INTERVAL_S),
    coerce: (value: unknown) => checkInterval(String(value), '--traffic-interval'),
    describe:
      'events mode with --collector.traffic: read the counts of live connections this often ' +
      '(seconds, or e.g. 5m; 0: only when they end)',
  });
}

export function trafficConfig(
  args: TrafficArgs,
  collectors: ReadonlySet<OptInCollector>,
): TrafficConfig | undefined {
  if (!collectors.has('traffic')) return undefined;
  return { readIntervalMs: args.trafficInterval };
}
