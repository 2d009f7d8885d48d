/**
 * What one events-mode scrape costs the exporter, and in which part: CPU
 * per scrape from /proc over many scrapes (everything: HTTP, garbage
 * collection, the event loop), with the timing off; then the parts timed
 * inside a second exporter on the same table with CONNTRACK_SCRAPE_TIMING=1
 * (src/collectors/scrape-timing.ts), whose reading of the CPU clock costs
 * a little itself. What the timed parts leave is "the rest": HTTP,
 * prom-client's formatting of its families, garbage collection, the glue
 * between the parts.
 */
import { parseExposition, startExporter, type ExporterProcess } from '../../test/helpers/exporter';
import {
  SCRAPE_PARTS,
  SCRAPE_TIMING_VARIABLE,
  ScrapePart,
} from '../../src/collectors/scrape-timing';
import { cpuSeconds, fetchTimed } from './measure';
import type { BenchTable } from './table';

/** Scrapes timed for each figure, after WARMUP untimed. */
const SCRAPES = 101;
const WARMUP = 10;
/** The exporter left alone this long first: what it uses without scrapes is not the scrapes'. */
const IDLE_MS = 2000;
const PART_METRIC = 'conntrack_exporter_scrape_part_seconds_total';

export interface ScrapeCost {
  /** Median wall time of a plain scrape (curl), ms. */
  scrapeMs: number;
  /** CPU per plain scrape, ms. */
  cpuMs: number;
  /** CPU per scrape asking for gzip, as Prometheus does, ms. */
  gzipCpuMs: number;
  /** Each timed part per plain scrape, ms (gzip: per gzip scrape); undefined for a build without the timing. */
  parts?: Record<ScrapePart, number>;
  /** Of a plain scrape, and gzipped. */
  bytes: number;
  gzipBytes: number;
  /** Series in a plain scrape. */
  series: number;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/** The timed parts so far, in seconds; undefined when the exporter does not time them. */
async function partSeconds(
  exporter: ExporterProcess,
): Promise<Record<ScrapePart, number> | undefined> {
  const metrics = parseExposition(await exporter.scrape());
  if (!metrics.has(`${PART_METRIC}{part="${SCRAPE_PARTS[0]}"}`)) return undefined;
  return Object.fromEntries(
    SCRAPE_PARTS.map((part) => [part, metrics.get(`${PART_METRIC}{part="${part}"}`) ?? NaN]),
  ) as Record<ScrapePart, number>;
}

/**
 * CPU per scrape over SCRAPES scrapes (the exporter's idle use over the
 * same time taken off), each part's time per scrape, and the scrapes'
 * median latency and size.
 */
async function costOf(
  bench: BenchTable,
  exporter: ExporterProcess,
  idleCpuPerMs: number,
  gzip: boolean,
): Promise<{ ms: number; cpuMs: number; bytes: number; parts?: Record<ScrapePart, number> }> {
  const url = `${exporter.url}/metrics`;
  const pid = exporter.process.pid!;
  for (let i = 0; i < WARMUP; i++) await fetchTimed(bench.ns, url, { gzip });
  const before = await partSeconds(exporter);
  const cpuBefore = cpuSeconds(pid);
  const start = performance.now();
  const scrapes: Array<{ ms: number; bytes: number }> = [];
  for (let i = 0; i < SCRAPES; i++) scrapes.push(await fetchTimed(bench.ns, url, { gzip }));
  const elapsedMs = performance.now() - start;
  const cpuMs = ((cpuSeconds(pid) - cpuBefore) * 1000 - idleCpuPerMs * elapsedMs) / SCRAPES;
  const after = await partSeconds(exporter);
  const parts =
    before &&
    after &&
    (Object.fromEntries(
      SCRAPE_PARTS.map((part) => [part, ((after[part] - before[part]) * 1000) / SCRAPES]),
    ) as Record<ScrapePart, number>);
  return {
    ms: median(scrapes.map((s) => s.ms)),
    cpuMs,
    bytes: median(scrapes.map((s) => s.bytes)),
    parts,
  };
}

/**
 * Measures an exporter with `args` in the table's namespace: CPU per scrape
 * with the timing off, then (unless `parts` is false, e.g. for a build
 * without the timing) each part's time with it on.
 */
export async function measureScrapeCost(
  bench: BenchTable,
  args: readonly string[],
  options: { port: number; startTimeoutMs: number; program?: string; parts?: boolean },
): Promise<ScrapeCost> {
  const total = await measureOnce(bench, args, options, false);
  if (options.parts === false) return total;
  const timed = await measureOnce(bench, args, options, true);
  return { ...total, parts: timed.parts };
}

/** Starts an exporter, measures it, stops it. */
async function measureOnce(
  bench: BenchTable,
  args: readonly string[],
  options: { port: number; startTimeoutMs: number; program?: string },
  timing: boolean,
): Promise<ScrapeCost> {
  const exporter = await startExporter(bench.ns, args, {
    ...options,
    env: timing ? { [SCRAPE_TIMING_VARIABLE]: '1' } : {},
  });
  try {
    const pid = exporter.process.pid!;
    await exporter.scrape();
    const idleBefore = cpuSeconds(pid);
    await pause(IDLE_MS);
    const idleCpuPerMs = ((cpuSeconds(pid) - idleBefore) * 1000) / IDLE_MS;
    const plain = await costOf(bench, exporter, idleCpuPerMs, false);
    const gzipped = await costOf(bench, exporter, idleCpuPerMs, true);
    const series = [...parseExposition(await exporter.scrape()).keys()].length;
    return {
      scrapeMs: plain.ms,
      cpuMs: plain.cpuMs,
      gzipCpuMs: gzipped.cpuMs,
      parts: plain.parts && gzipped.parts && { ...plain.parts, gzip: gzipped.parts.gzip },
      bytes: plain.bytes,
      gzipBytes: gzipped.bytes,
      series,
    };
  } finally {
    await exporter.stop();
  }
}

/** The rest of a plain scrape's CPU: what the timed parts (gzip aside) leave. */
export function restMs(cost: ScrapeCost): number {
  if (cost.parts === undefined) return NaN;
  const timed = SCRAPE_PARTS.filter((part) => part !== 'gzip').reduce(
    (sum, part) => sum + cost.parts![part],
    0,
  );
  return cost.cpuMs - timed;
}

/** Rows of a scrape's cost: label, then the value of each cost given. */
export function scrapeCostRows(
  costs: readonly ScrapeCost[],
  digits = 2,
): Array<{ label: string; cells: string[] }> {
  const cell = (value: number): string => (Number.isFinite(value) ? value.toFixed(digits) : '');
  const row = (label: string, value: (cost: ScrapeCost) => number) => ({
    label,
    cells: costs.map((cost) => cell(value(cost))),
  });
  return [
    row('Scrape, events mode (ms, median)', (c) => c.scrapeMs),
    row('CPU per scrape (ms)', (c) => c.cpuMs),
    ...SCRAPE_PARTS.filter((part) => part !== 'gzip').map((part) =>
      row(`… ${part} (ms)`, (c) => c.parts?.[part] ?? NaN),
    ),
    row('… the rest: HTTP, prom-client formatting, GC (ms)', restMs),
    row('CPU per scrape asking for gzip, as Prometheus does (ms)', (c) => c.gzipCpuMs),
    row('… gzip, in the thread pool (ms, wall)', (c) => c.parts?.gzip ?? NaN),
    {
      label: 'Body (KiB; gzipped)',
      cells: costs.map((c) => `${(c.bytes / 1024).toFixed(0)}; ${(c.gzipBytes / 1024).toFixed(0)}`),
    },
    { label: 'Series', cells: costs.map((c) => String(c.series)) },
  ];
}
