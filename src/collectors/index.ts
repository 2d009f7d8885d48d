import { Registry } from 'prom-client';

import { readKernelStats } from '../conntrack/kernel-stats';
import { Logger } from '../log';
import { MetricLayout } from '../options/metric-layout';
import { OptInCollector } from '../options/collectors';
import { TableMode } from '../options/table-reading-config';
import { AgeSource } from '../model/longterm';
import { connectionGauges } from './connections';
import { registerEventMetrics } from './events';
import { Exposition } from './exposition';
import { registerHostMetrics } from './hosts';
import { kernelStatsCollector } from './kernel-stats';
import { lifecycleCounters } from './lifecycle';
import { linkHealthCollector } from './link-health';
import { LongtermConfig, registerLongterm } from './longterm';
import { registerNodejsMetrics } from './nodejs';
import { registerProcessMetrics } from './process';
import { ScrapeReader } from './scrape';
import { registerScrapeTiming, scrapeTiming } from './scrape-timing';
import { BuildInfo, registerSelfMetrics } from './self';
import { trafficCounters } from './traffic';

/** What the collectors are made from: the scrape they read, and what they are told at start. */
export interface CollectorContext {
  /** The small families (prom-client). */
  registry: Registry;
  /** The families that grow with the hosts (text collectors); writes `registry` first. */
  exposition: Exposition;
  source: ScrapeReader;
  /** How the table is read, as decided at start. */
  mode: TableMode;
  logEvents: boolean;
  metricLayout: MetricLayout;
  /** Reverse DNS names hosts. */
  resolving: boolean;
  /** Whether /proc tells the table's size. */
  tableReadable: boolean;
  build: BuildInfo;
  /** The long-term connections metric; off when undefined. */
  longterm?: { config: LongtermConfig; ageSource: AgeSource };
  /** Serve the long-term metric alone (the tcp_established_exporter drop-in). */
  longtermOnly: boolean;
  /** Where collectors report a read that failed at scrape time. */
  log: Logger;
  /** The collectors that are off unless switched on (--collector.<name>), switched on. */
  optIn: ReadonlySet<OptInCollector>;
  /** --collector.traffic: the traffic counters per remote host. */
  traffic: boolean;
  /** Link health was asked for (--collector.link-health) and events mode counts it. */
  linkHealth?: boolean;
  /** nf_conntrack_timestamp was on at start. */
  kernelTimestamps?: boolean;
}

/** One collector: its name, when it is on, and what it registers. */
export interface Collector {
  name: string;
  enabled(context: CollectorContext): boolean;
  register(context: CollectorContext): void;
}

const full = (context: CollectorContext) => !context.longtermOnly;

/**
 * Every collector, in the order their families are served (prom-client's
 * first, in this order, then the text collectors, in this order).
 */
export const COLLECTORS: readonly Collector[] = [
  {
    name: 'longterm',
    enabled: (context) => context.longterm !== undefined,
    register: ({ registry, source, longterm }) =>
      longterm && registerLongterm(registry, source, longterm.config, longterm.ageSource),
  },
  {
    name: 'connections',
    enabled: full,
    register: ({ exposition, source, metricLayout }) =>
      exposition.add(connectionGauges(source, metricLayout)),
  },
  {
    name: 'hosts',
    enabled: full,
    register: ({ registry, source, resolving }) => registerHostMetrics(registry, source, resolving),
  },
  {
    name: 'self',
    enabled: full,
    register: ({ registry, source, build, tableReadable }) =>
      registerSelfMetrics(registry, source, build, tableReadable),
  },
  {
    name: 'events',
    enabled: full,
    register: ({ registry, source, mode, logEvents }) =>
      registerEventMetrics(registry, source, mode, logEvents),
  },
  {
    // Every command's endpoint: fleets watch their exporters with these.
    name: 'process',
    enabled: () => true,
    register: ({ registry }) => registerProcessMetrics(registry),
  },
  {
    // Opt-in: they cost more CPU per scrape than the connection gauges (README, "Metrics").
    name: 'nodejs',
    enabled: (context) => full(context) && context.optIn.has('nodejs'),
    register: ({ registry }) => registerNodejsMetrics(registry),
  },
  {
    name: 'lifecycle',
    enabled: (context) => full(context) && context.mode === 'events',
    register: ({ exposition, source }) => exposition.add(lifecycleCounters(source)),
  },
  {
    // Read at scrape time in both modes: the table's own drops and failed inserts.
    name: 'kernel-stats',
    enabled: full,
    register: ({ exposition, log }) => exposition.add(kernelStatsCollector(readKernelStats, log)),
  },
  {
    // What each part of a scrape costs, for `make bench`: CONNTRACK_SCRAPE_TIMING=1 only.
    name: 'scrape-timing',
    enabled: () => scrapeTiming !== undefined,
    register: ({ registry }) => {
      if (scrapeTiming === undefined) return;
      registerScrapeTiming(registry, scrapeTiming);
      scrapeTiming.instrument(registry);
    },
  },
  {
    // Off by default: it adds per-host families (see the README's series budget).
    name: 'link-health',
    enabled: (context) => full(context) && context.mode === 'events' && context.linkHealth === true,
    register: ({ exposition, source, kernelTimestamps }) =>
      exposition.add(linkHealthCollector(source, kernelTimestamps ?? false)),
  },
  {
    // Opt-in: four more per-host families (README, Bounding series).
    name: 'traffic',
    enabled: (context) => full(context) && context.traffic,
    register: ({ exposition, source }) => exposition.add(trafficCounters(source)),
  },
];

/** Registers every collector that is on. */
export function registerCollectors(context: CollectorContext): void {
  for (const collector of COLLECTORS) {
    if (collector.enabled(context)) collector.register(context);
  }
}
