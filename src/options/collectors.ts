/**
 * The collectors a user switches on with --collector.<name>: off by
 * default, each for a reason its description gives. All of them are
 * declared here, so that `--help` lists them together and every command
 * reads them the same way.
 */
import { Argv } from 'yargs';

import { ArgsOf } from './args';

export type CollectorArgs = ArgsOf<typeof collectorOptions>;

/** The names of the collectors that are off unless their flag switches them on. */
export const OPT_IN_COLLECTORS = ['nodejs', 'link-health', 'traffic'] as const;

export type OptInCollector = (typeof OPT_IN_COLLECTORS)[number];

// The CLI parses without dot-notation, so `collector.nodejs` is one option
// and its default does not turn into a "collector" object.
export function collectorOptions<T>(y: Argv<T>) {
  return y
    .option('collector.nodejs', {
      type: 'boolean',
      default: false,
      describe:
        "serve prom-client's Node runtime metrics (nodejs_*: event loop lag, heap, GC, handles); " +
        'off by default: they cost more CPU per scrape than the connection gauges themselves',
    })
    .option('collector.link-health', {
      type: 'boolean',
      default: false,
      describe:
        'events mode: count failed connections (refused, timeout, reset), connect times and ' +
        'lifetimes per remote host and port; off by default: per-host families (series budget)',
    })
    .option('collector.traffic', {
      type: 'boolean',
      default: false,
      describe:
        'export conntrack_{sent,received}_{bytes,packets}_total per remote host, port and direction, ' +
        "from the kernel's accounting (net.netfilter.nf_conntrack_acct=1); off by default: " +
        'per-host families (series budget) and a read of the table every --traffic-interval',
    });
}

/** The opt-in collectors that the flags switch on. */
export function optInCollectors(args: CollectorArgs): ReadonlySet<OptInCollector> {
  const on = new Set<OptInCollector>();
  if (args['collector.nodejs']) on.add('nodejs');
  if (args['collector.linkHealth']) on.add('link-health');
  if (args['collector.traffic']) on.add('traffic');
  return on;
}
