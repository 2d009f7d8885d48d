/**
 * Counters and gauges whose values are read when a scrape asks, from counts
 * kept elsewhere (a snapshot, the proxy's plain numbers), instead of being
 * moved as things happen. Shared by the exporter's collectors and the
 * proxy's metrics.
 */
import type * as PromClient from 'prom-client';

// Loaded from their own modules, not the package entry, for the proxy's
// sake: see src/proxy/prom-client.ts. They are the same classes.
/* eslint-disable @typescript-eslint/no-require-imports */
const Counter: typeof PromClient.Counter = require('prom-client/lib/counter');
const Gauge: typeof PromClient.Gauge = require('prom-client/lib/gauge');
/* eslint-enable @typescript-eslint/no-require-imports */

type Labels = Record<string, string | number>;

/** What a scrape reads: one number, or samples with their labels. */
export type Reading = number | readonly (readonly [Labels, number])[];

export interface ScrapeTimeMetric {
  name: string;
  help: string;
  labelNames?: readonly string[];
}

/**
 * A counter read at scrape time. Counters cannot be set: reset and add
 * gives the same exposition.
 */
export function scrapeCounter(
  registry: PromClient.Registry,
  metric: ScrapeTimeMetric,
  read: () => Reading | Promise<Reading>,
): void {
  new Counter({
    name: metric.name,
    help: metric.help,
    labelNames: metric.labelNames ?? [],
    registers: [registry],
    collect() {
      return settle(read(), (reading) => {
        this.reset();
        if (typeof reading === 'number') this.inc(reading);
        else for (const [labels, value] of reading) this.inc(labels, value);
      });
    },
  });
}

/**
 * `apply(value)` at once when `value` is no promise, else once it settles.
 * Most readings are plain numbers: an async collect function would cost
 * each of a scrape's families a promise and a turn of the microtask queue
 * for nothing.
 */
function settle<T>(value: T | Promise<T>, apply: (value: T) => void): void | Promise<void> {
  if (value instanceof Promise) return value.then(apply);
  apply(value);
}

export interface GaugeOptions {
  /** Samples the reading leaves out disappear (else they keep their last value). */
  reset?: boolean;
}

/** A gauge read at scrape time; a reading of undefined leaves its value as it was. */
export function scrapeGauge(
  registry: PromClient.Registry,
  metric: ScrapeTimeMetric,
  read: () => Reading | undefined | Promise<Reading | undefined>,
  options: GaugeOptions = {},
): void {
  new Gauge({
    name: metric.name,
    help: metric.help,
    labelNames: metric.labelNames ?? [],
    registers: [registry],
    collect() {
      return settle(read(), (reading) => {
        if (reading === undefined) return;
        if (options.reset) this.reset();
        if (typeof reading === 'number') this.set(reading);
        else for (const [labels, value] of reading) this.set(labels, value);
      });
    },
  });
}
