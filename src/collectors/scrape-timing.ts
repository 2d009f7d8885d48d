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
 * The parts timed, each the CPU time (user + system, of the whole process:
 * process.cpuUsage) of synchronous code on the main thread. CPU time, not
 * wall time: on a loaded machine a part's wall time is mostly the time
 * other processes ran. Reading the CPU time is a
 * system call (a few microseconds, which the timed part takes a share of),
 * so the timing is on only when asked for, and the CPU a scrape costs is
 * measured with it off.
 * - table: the live table's groups copied for the scrape (events mode)
 * - lifecycle: the opened/closed tallies taken for the scrape (events mode)
 * - series: the groups ranked and bounded into series (toSeries)
 * - text: the per-host families written into the body
 * - families, process, nodejs: prom-client's collectors of the exporter's
 *   own small families, of process_*, of nodejs_* (until their first
 *   await; prom-client's formatting of their text is not in these)
 * - gzip: compressing the body (when the client asks for it)
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

  /** `cpu`: CPU seconds used so far. */
  constructor(private readonly cpu: () => number = cpuSeconds) {}

  /** Runs `work`, adding the CPU time it took to `part`. */
  time<T>(part: ScrapePart, work: () => T): T {
    const start = this.cpu();
    try {
      return work();
    } finally {
      this.seconds[part] += this.cpu() - start;
    }
  }

  /**
   * Times the synchronous pass in which `registry` starts rendering every
   * family (each collect function up to its first await), each family
   * under the part its name belongs to. The clock is read where the part
   * changes, not around each family: the families of a part are registered
   * together, and a read of the clock costs about as much as a family.
   */
  instrument(registry: PromClient.Registry): void {
    type Render = (metric: PromClient.Metric) => Promise<string>;
    const target = registry as unknown as { getMetricsAsString: Render };
    const render = target.getMetricsAsString.bind(registry);
    const metrics = registry.metrics.bind(registry);
    let open: { part: ScrapePart; start: number } | undefined;
    const switchTo = (part: ScrapePart | undefined) => {
      if (open?.part === part) return;
      const now = this.cpu();
      if (open !== undefined) this.seconds[open.part] += now - open.start;
      open = part === undefined ? undefined : { part, start: now };
    };
    target.getMetricsAsString = (metric) => {
      switchTo(partOfFamily((metric as unknown as { name: string }).name));
      return render(metric);
    };
    registry.metrics = () => {
      try {
        return metrics();
      } finally {
        switchTo(undefined);
      }
    };
  }
}

function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** The prom-client part a family belongs to. */
export function partOfFamily(name: string): ScrapePart {
  if (name.startsWith('nodejs_')) return 'nodejs';
  if (name.startsWith('process_')) return 'process';
  return 'families';
}

/** The timing of this process: on when SCRAPE_TIMING_VARIABLE is "1" in `env`. */
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
