/**
 * The collectors a user switches on with --collector.<name>: off by
 * default, each for a reason its description gives.
 */
import { Argv } from 'yargs';

import { ArgsOf } from './args';

export type CollectorArgs = ArgsOf<typeof collectorOptions>;

/** The names of the collectors that are off unless their flag switches them on. */
export const OPT_IN_COLLECTORS = ['nodejs'] as const;

export type OptInCollector = (typeof OPT_IN_COLLECTORS)[number];

export function collectorOptions<T>(y: Argv<T>) {
  return y.option('collector.nodejs', {
    type: 'boolean',
    default: false,
    describe:
      "serve prom-client's Node runtime metrics (nodejs_*: event loop lag, heap, GC, handles); " +
      'off by default: they cost more CPU per scrape than the connection gauges themselves',
  });
}

/** The opt-in collectors that the flags switch on. */
export function optInCollectors(args: CollectorArgs): ReadonlySet<OptInCollector> {
  const on = new Set<OptInCollector>();
  if (args['collector.nodejs']) on.add('nodejs');
  return on;
}
