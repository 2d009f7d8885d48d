/**
 * What each part of a scrape costs, measured inside the process when
 * CONNTRACK_SCRAPE_TIMING=1 is set (`make bench` sets it; it is a tool for
 * finding where a scrape's time goes, not a metric to alert on). Off, the
 * timed parts run as they are: no clock is read.
 */
import type * as PromClient from 'prom-client';

import { scrapeCounter } from './scrape-time';

/** Not under CONNTRACK_EXPORTER_, whose variables are all settings (an unknown one is refused). */
export const SCRAPE_TIMING_VARIABLE = 'CONNTRACK_SCRAPE_TIMING';

/**
 * The parts timed, each the main thread's time in synchronous code unless
 * said otherwise:
 * - table: the live table's groups copied for the scrape (events mode)
 * - lifecycle: the opened/closed tallies taken for the scrape (events mode)
 * - series: the groups ranked and bounded into series (toSeries)
 * - text: the per-host families written into the body
 * - families, process, nodejs: prom-client's collectors of the exporter's
 *   own small families, of process_*, of nodejs_* (until their first
 *   await; prom-client's formatting of their text is not in these)
 * - gzip: compressing the body, in the thread pool (its wall time)
 */
export const SCRAPE_PARTS = [
  'table',
  'lifecycle',
  'series',
  'text',
  'families',
  'process',
  'nodejs',
  'gzip',
] as const;

export type ScrapePart = (typeof SCRAPE_PARTS)[number];

/** Seconds spent in each part, summed over every scrape since start. */
export class ScrapeTiming {
  readonly seconds: Record<ScrapePart, number> = Object.fromEntries(
    SCRAPE_PARTS.map((part) => [part, 0]),
  ) as Record<ScrapePart, number>;

  constructor(private readonly clock: () => bigint = process.hrtime.bigint) {}

  /** Runs `work`, adding its time to `part`. */
  time<T>(part: ScrapePart, work: () => T): T {
    const start = this.clock();
    try {
      return work();
    } finally {
      this.seconds[part] += Number(this.clock() - start) / 1e9;
    }
  }

  /** Adds the time from now until `work` settles to `part`; for work off the main thread. */
  timeAsync<T>(part: ScrapePart, work: Promise<T>, start = this.clock()): Promise<T> {
    const add = () => {
      this.seconds[part] += Number(this.clock() - start) / 1e9;
    };
    work.then(add, add);
    return work;
  }

  /**
   * Times the synchronous start of each family's rendering by `registry`
   * (its collect function up to its first await), under the part its name
   * belongs to.
   */
  instrument(registry: PromClient.Registry): void {
    type Render = (metric: PromClient.Metric) => Promise<string>;
    const target = registry as unknown as { getMetricsAsString: Render };
    const render = target.getMetricsAsString.bind(registry);
    target.getMetricsAsString = (metric) =>
      this.time(partOfFamily((metric as unknown as { name: string }).name), () => render(metric));
  }
}

/** The prom-client part a family belongs to. */
export function partOfFamily(name: string): ScrapePart {
  if (name.startsWith('nodejs_')) return 'nodejs';
  if (name.startsWith('process_')) return 'process';
  return 'families';
}

/** The timing of this process: on when `variable` is "1" in `env`. */
export function timingFromEnvironment(
  env: NodeJS.ProcessEnv = process.env,
): ScrapeTiming | undefined {
  return env[SCRAPE_TIMING_VARIABLE] === '1' ? new ScrapeTiming() : undefined;
}

/** This process's timing; undefined (and nothing timed) unless the variable is set. */
export const scrapeTiming = timingFromEnvironment();

/** Runs `work`, timed under `part` when timing is on. */
export function timed<T>(part: ScrapePart, work: () => T): T {
  return scrapeTiming === undefined ? work() : scrapeTiming.time(part, work);
}

/** conntrack_exporter_scrape_part_seconds_total{part}: the timing, read at each scrape. */
export function registerScrapeTiming(registry: PromClient.Registry, timing: ScrapeTiming): void {
  scrapeCounter(
    registry,
    {
      name: 'conntrack_exporter_scrape_part_seconds_total',
      help: `Time spent in each part of the scrapes since start (${SCRAPE_TIMING_VARIABLE}=1; see src/collectors/scrape-timing.ts).`,
      labelNames: ['part'],
    },
    () => SCRAPE_PARTS.map((part) => [{ part }, timing.seconds[part]] as const),
  );
}
