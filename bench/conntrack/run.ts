/**
 * `make bench`: the exporter against the kernel's own CLI on synthetic
 * conntrack tables of 10k to 1M TCP entries (about 1,000 remote hosts,
 * IPv4 and IPv6, mixed states), each in a throwaway namespace. For each
 * size: `conntrack -L` timed as the reference, scrape latency in dump and
 * events mode, memory, idle CPU with a scrape every 15 s, and a burst of
 * 100k inserts then deletes absorbed in events mode, as the kernel makes
 * them and queued while the exporter is stopped. Prints one table and
 * writes it to the "Conntrack exporter" section of BENCHMARKS.md, which it
 * replaces whole: notes written by hand go in a section of their own.
 *
 *   BENCH_SIZES=10000,100000   table sizes (default 10k, 100k, 250k, 1M); a
 *                              run of other sizes prints but does not write
 *   BENCH_IDLE_SECONDS=60      length of the idle CPU window
 *   BENCH_SKIP_DUMP=1          events mode only: no dump-mode exporter (its
 *                              rows print as NaN); with BENCH_IDLE_SECONDS=0
 *                              too, a quick look at memory and bursts
 *   BENCH_ONLY=events-scrape   only the events-mode scrape latency per size
 *                              (minutes instead of ten; prints, never writes)
 *   BENCH_ONLY=scrape-cost     only the events-mode scrape's CPU and its parts,
 *                              without and with --collector.nodejs (prints)
 *   BENCH_BASELINE=DIR/cli.js  with scrape-cost: another build measured
 *                              beside it on the same table (e.g. a checkout
 *                              of main), for a comparison within one run
 *   BENCH_ONLY=traffic         only the cost of --collector.traffic's reads
 *                              of the table per size (traffic.ts; prints,
 *                              never writes)
 *   BENCH_ONLY=link-health     events mode without and with
 *                              --collector.link-health: queued bursts (events
 *                              per CPU-second) then scrape latency (prints)
 *   BENCH_ONLY=old-entries     only the rows where every entry predates the
 *                              exporter (prints, never writes)
 *
 * The one change outside the namespaces: nf_conntrack_max and
 * nf_conntrack_buckets are raised for the run and restored (sysctls.ts).
 */
import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import os from 'node:os';
import { promisify } from 'node:util';

import { parseExposition, startExporter, type ExporterProcess } from '../../test/helpers/exporter';
import { waitFor } from '../../test/helpers/netns';
import { DEFAULT_SILENT_CHECK_INTERVAL_S } from '../../src/options/table-reading-config';
import {
  cpuSeconds,
  idleCpuPerMinute,
  rssMB,
  timeScrape,
  timeScrapes,
  watchBurst,
} from './measure';
import {
  LARGE_BUFFER,
  RESYNC_INTERVAL_S,
  sizeLabel,
  table,
  verdicts,
  writeSection,
  type Burst,
  type ModeResult,
  type OldEntries,
  type SizeResult,
} from './report';
import {
  COST_ROWS,
  costCell,
  measureScrapeCosts,
  type CostSubject,
  type ScrapeCost,
} from './scrape-cost';
import { raiseTableLimits } from './sysctls';
import { BenchTable, type FillResult } from './table';
import { measureTraffic } from './traffic';

const execFileAsync = promisify(execFile);

const DEFAULT_SIZES = [10_000, 100_000, 250_000, 1_000_000];
// Empty when make passes an unset variable on.
const SIZES = (process.env.BENCH_SIZES || DEFAULT_SIZES.join(','))
  .split(',')
  .map((size) => Number(size.trim()));
if (!SIZES.every((size) => Number.isInteger(size) && size > 0)) {
  process.stderr.write(
    `BENCH_SIZES=${process.env.BENCH_SIZES}: give whole numbers of entries separated by commas, e.g. BENCH_SIZES=10000,100000\n`,
  );
  process.exit(2);
}
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS || 60);
const SKIP_DUMP = process.env.BENCH_SKIP_DUMP === '1';
const ONLY = process.env.BENCH_ONLY || undefined;
const ALONE = ['events-scrape', 'scrape-cost', 'link-health', 'traffic', 'old-entries'];
if (ONLY !== undefined && !ALONE.includes(ONLY)) {
  throw new Error(`BENCH_ONLY=${ONLY}: the parts that run alone are ${ALONE.join(', ')}`);
}
const BASELINE = process.env.BENCH_BASELINE || undefined;
const HOSTS = 1000;
const BURST = 100_000;
/** Entries older than the exporter in measureSilent, and the scrapes timed there. */
const SILENT = 1000;
const SILENT_SCRAPES = 11;
const SCRAPE_INTERVAL_MS = 15_000;
const DUMP_PORT = 9318;
const EVENTS_PORT = 9319;
const COST_PORT = 9320;
// No DNS in the namespace; every one of the 1,000 hosts gets its own series,
// as in the original exporter, which had no bound.
const COMMON_ARGS = ['--no-resolve-hosts', '--max-hosts', String(HOSTS)];
// Reading a million entries at start takes longer than the test helper's default.
const START_TIMEOUT_MS = 120_000;
const CONNECTION_GAUGE = /^conntrack_(opening|open|closing|closed)_connections\{/;

const log = (line: string): void => void process.stderr.write(`${line}\n`);
const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

const NOT_MEASURED = { scrapeMs: NaN, rssStartMB: NaN, rssScrapedMB: NaN, rssGrowthMB: NaN };

/** Fewer runs where each one takes seconds. */
// An events-mode scrape takes milliseconds at any size: enough of them for a
// median that a few slow ones (the machine is shared) do not move, after a
// few untimed ones that compile the scrape's code, as Prometheus's scrapes
// meet it compiled.
const EVENTS_SCRAPES_TIMED = 101;
const EVENTS_SCRAPES_WARMUP = 10;

function runsFor(entries: number): { timed: number; repeated: number } {
  if (entries <= 10_000) return { timed: 21, repeated: 30 };
  if (entries <= 100_000) return { timed: 11, repeated: 20 };
  if (entries <= 250_000) return { timed: 7, repeated: 10 };
  return { timed: 3, repeated: 4 };
}

/** A scrape, and the sum of its connection gauges: every entry of the table counts once. */
async function scrapeCounted(
  exporter: ExporterProcess,
): Promise<{ metrics: Map<string, number>; counted: number }> {
  const metrics = parseExposition(await exporter.scrape());
  let counted = 0;
  for (const [series, value] of metrics) if (CONNECTION_GAUGE.test(series)) counted += value;
  return { metrics, counted };
}

async function expectCounted(
  exporter: ExporterProcess,
  entries: number,
  mode: string,
): Promise<void> {
  const { counted } = await scrapeCounted(exporter);
  if (counted !== entries)
    throw new Error(`${mode} mode counts ${counted} connections, the table holds ${entries}`);
}

/** Latency and memory of one exporter; it keeps running for the idle window. */
async function measureMode(
  bench: BenchTable,
  exporter: ExporterProcess,
  entries: number,
  mode: string,
): Promise<Omit<ModeResult, 'idleCpuPerMinute'>> {
  const pid = exporter.process.pid!;
  const rssStartMB = rssMB(pid);
  const url = `${exporter.url}/metrics`;
  await expectCounted(exporter, entries, mode);
  const { repeated, ...runs } = runsFor(entries);
  const timed = mode === 'events' ? EVENTS_SCRAPES_TIMED : runs.timed;
  if (mode === 'events') await timeScrapes(bench.ns, url, EVENTS_SCRAPES_WARMUP);
  const times = await timeScrapes(bench.ns, url, timed);
  // RSS saws up and down with garbage collection: its median over the
  // repeated scrapes is the level, and a leak shows as the second half's
  // median above the first's.
  const samples: number[] = [];
  for (let i = 0; i < repeated; i++) {
    await timeScrape(bench.ns, url);
    samples.push(rssMB(pid));
  }
  const half = samples.length >> 1;
  const result = {
    scrapeMs: median(times),
    rssStartMB,
    rssScrapedMB: median(samples),
    rssGrowthMB: median(samples.slice(half)) - median(samples.slice(0, half)),
  };
  log(
    `  ${mode}: scrape ${result.scrapeMs.toFixed(2)} ms (median of ${timed}), RSS ${rssStartMB.toFixed(0)} MB ` +
      `after start, ${result.rssScrapedMB.toFixed(0)} MB over ${repeated} more scrapes, ` +
      `second half ${result.rssGrowthMB.toFixed(1)} MB above the first`,
  );
  return result;
}

/** A scrape right after the local addresses changed, which makes events mode re-read the table. */
async function measureResync(
  bench: BenchTable,
  exporter: ExporterProcess,
): Promise<{ ms: number; cpu: number }> {
  const pid = exporter.process.pid!;
  const samples: Array<{ ms: number; cpu: number }> = [];
  for (const action of ['add', 'del']) {
    await bench.run(['ip', 'addr', action, '192.0.2.99/32', 'dev', 'lo']);
    const before = cpuSeconds(pid);
    const ms = await timeScrape(bench.ns, `${exporter.url}/metrics`);
    samples.push({ ms, cpu: cpuSeconds(pid) - before });
  }
  const resyncs = parseExposition(await exporter.scrape()).get(
    'conntrack_exporter_resyncs_total{reason="addresses"}',
  );
  if (resyncs !== 2) throw new Error(`expected 2 re-reads after address changes, got ${resyncs}`);
  return { ms: median(samples.map((s) => s.ms)), cpu: median(samples.map((s) => s.cpu)) };
}

/**
 * Scrapes while SILENT entries older than the exporter remain under
 * nf_conntrack_events=2 (the kernel's default), which may send no events: in
 * a namespace of its own, the exporter started after those and before the
 * rest of the table. They are looked up in the background; a scrape waits
 * for neither a lookup nor a re-read (measureResync's cost).
 */
async function measureSilent(entries: number): Promise<{ ms: number; cpu: number }> {
  const bench = await BenchTable.create();
  let exporter: ExporterProcess | undefined;
  try {
    await bench.run(['sysctl', '-q', '-w', 'net.netfilter.nf_conntrack_events=2']);
    await bench.change('create', SILENT, { offset: 0, hosts: HOSTS });
    exporter = await startExporter(bench.ns, [...COMMON_ARGS, '--mode', 'events'], {
      port: EVENTS_PORT,
      startTimeoutMs: START_TIMEOUT_MS,
    });
    await bench.change('create', entries - SILENT, { offset: SILENT, hosts: HOSTS });
    const live = exporter;
    await waitFor(
      async () =>
        (await scrapeCounted(live)).metrics.get('conntrack_exporter_live_table_entries') ===
        entries,
      START_TIMEOUT_MS,
      'the exporter taking in the table made after its start',
    );
    const pid = exporter.process.pid!;
    const samples: Array<{ ms: number; cpu: number }> = [];
    for (let i = 0; i < SILENT_SCRAPES; i++) {
      const before = cpuSeconds(pid);
      const ms = await timeScrape(bench.ns, `${exporter.url}/metrics`);
      samples.push({ ms, cpu: cpuSeconds(pid) - before });
    }
    const { metrics: after, counted } = await scrapeCounted(exporter);
    const silent = after.get('conntrack_exporter_silent_entries');
    const rereads = after.get('conntrack_exporter_resyncs_total{reason="silent_entries"}');
    if (silent !== SILENT || rereads !== 0 || counted !== entries) {
      throw new Error(
        `expected ${SILENT} silent entries looked up, no re-read, ${entries} counted; ` +
          `got ${silent}, ${rereads} re-reads, ${counted} counted`,
      );
    }
    const result = { ms: median(samples.map((s) => s.ms)), cpu: median(samples.map((s) => s.cpu)) };
    log(
      `  ${SILENT} silent entries: scrape ${result.ms.toFixed(1)} ms, ${result.cpu.toFixed(2)} CPU-s ` +
        `(median of ${SILENT_SCRAPES}), not re-read`,
    );
    return result;
  } finally {
    await exporter?.stop();
    await bench.destroy();
  }
}

/**
 * One burst of inserts or deletes in events mode, checked for losses
 * afterwards. `queued`: the exporter is stopped while the kernel makes the
 * events, which wait in its socket, and then continued, so the rate is the
 * exporter's own, not bounded by how fast the kernel makes entries.
 */
async function burst(
  bench: BenchTable,
  exporter: ExporterProcess,
  mode: 'create' | 'destroy',
  offset: number,
  expected: number,
  queued = false,
): Promise<Burst> {
  const type = mode === 'create' ? 'new' : 'destroy';
  const before = (await scrapeCounted(exporter)).metrics;
  const pid = exporter.process.pid!;
  let producing: Promise<FillResult>;
  if (queued) {
    process.kill(pid, 'SIGSTOP');
    producing = bench.change(mode, BURST, { offset, hosts: HOSTS });
    // Never left stopped: it would not even answer SIGTERM.
    await producing.catch((error: unknown) => {
      process.kill(pid, 'SIGCONT');
      throw error;
    });
  } else {
    producing = bench.change(mode, BURST, { offset, hosts: HOSTS });
  }
  const absorbed = await watchBurst(pid, producing, { resume: queued });
  const produced = await producing;
  const { metrics: after, counted } = await scrapeCounted(exporter);
  const delta = (series: string): number => (after.get(series) ?? 0) - (before.get(series) ?? 0);
  const events = delta(`conntrack_exporter_events_total{type="${type}"}`);
  const overflows = delta('conntrack_exporter_event_overflows_total');
  const kernel = await bench.count();
  const live = after.get('conntrack_exporter_live_table_entries');
  const consistent = kernel === expected && live === kernel && counted === kernel;
  const result: Burst = {
    events,
    producedPerSecond: produced.done / produced.seconds,
    seconds: absorbed.seconds,
    cpuSeconds: absorbed.cpuSeconds,
    lost: BURST - events,
    consistent,
  };
  log(
    `  burst of ${BURST} ${mode}s: ${events} events in ${absorbed.seconds.toFixed(3)} s, ` +
      `${absorbed.cpuSeconds.toFixed(2)} CPU-s, kernel at ${result.producedPerSecond.toFixed(0)}/s, ` +
      `${overflows} overflows, ${absorbed.drops} drops; live ${live}, counted ${counted}, conntrack -C ${kernel}`,
  );
  return result;
}

/** What a check of entries costs per entry, by a read of the whole table and by lookups. */
async function measureCheckCost(
  bench: BenchTable,
  slice: number,
): Promise<{
  dumpMicrosPerEntry: number;
  lookupMicrosPerEntry: number;
  checkMicrosPerEntry: number;
}> {
  const script = path.join(__dirname, 'check-cost.ts');
  // Three rounds of a read, a lookup and a check of every entry: about 40 s
  // at 1M on an idle machine, longer than a namespace command may take.
  const { stdout } = await execFileAsync(
    'ip',
    ['netns', 'exec', bench.ns.name, process.execPath, '--import', 'tsx', script, String(slice)],
    { encoding: 'utf8', timeout: 30_000 + slice * DEFAULT_SILENT_CHECK_INTERVAL_S * 0.3 },
  ).catch((error: Error & { stderr?: string; killed?: boolean }) => {
    const why = error.killed ? 'timed out' : (error.stderr?.trim() ?? error.message);
    throw new Error(`check-cost: ${why}`);
  });
  return JSON.parse(stdout) as {
    dumpMicrosPerEntry: number;
    lookupMicrosPerEntry: number;
    checkMicrosPerEntry: number;
  };
}

/**
 * The table as after a restart: every entry made before the exporter
 * starts, under nf_conntrack_events=2 (the kernel's default), so all of
 * them may send no events and are checked in the background, each once per
 * --silent-check-interval (the default). The scrape, the exporter's CPU
 * with a scrape every 15 s, and how long an old entry that ends takes to
 * leave the gauges (the kernel may tell it by an event, else a lookup does).
 */
async function measureOldEntries(entries: number): Promise<OldEntries> {
  log(`${sizeLabel(entries)} entries, every one older than the exporter (nf_conntrack_events=2)`);
  const bench = await BenchTable.create();
  let exporter: ExporterProcess | undefined;
  try {
    await bench.run(['sysctl', '-q', '-w', 'net.netfilter.nf_conntrack_events=2']);
    await bench.change('create', entries, { offset: 0, hosts: HOSTS });
    // As the background check asks: a tick's share of the interval.
    const slice = Math.ceil(entries / DEFAULT_SILENT_CHECK_INTERVAL_S);
    const cost = await measureCheckCost(bench, slice);
    exporter = await startExporter(bench.ns, [...COMMON_ARGS, '--mode', 'events'], {
      port: EVENTS_PORT,
      startTimeoutMs: START_TIMEOUT_MS,
    });
    const live = exporter;
    const { metrics, counted } = await scrapeCounted(live);
    const silent = metrics.get('conntrack_exporter_silent_entries');
    if (counted !== entries || silent !== entries) {
      throw new Error(`expected ${entries} counted and silent, got ${counted} and ${silent}`);
    }
    const url = `${live.url}/metrics`;
    await timeScrapes(bench.ns, url, EVENTS_SCRAPES_WARMUP);
    const scrapeMs = median(await timeScrapes(bench.ns, url, EVENTS_SCRAPES_TIMED));
    const pid = live.process.pid!;
    const [cpuPerMinute = NaN] =
      IDLE_SECONDS > 0
        ? await idleCpuPerMinute(
            bench.ns,
            [{ pid, url, offsetMs: 0 }],
            IDLE_SECONDS,
            SCRAPE_INTERVAL_MS,
          )
        : [];
    // With every entry in the list of silent entries: what the list holds.
    const rss = rssMB(pid);

    const destroys = async () =>
      (await scrapeCounted(live)).metrics.get('conntrack_exporter_events_total{type="destroy"}') ??
      0;
    const destroysBefore = await destroys();
    const ended = performance.now();
    await bench.change('destroy', 1, { offset: 0, hosts: HOSTS });
    await waitFor(
      async () => (await scrapeCounted(live)).counted === entries - 1,
      START_TIMEOUT_MS + DEFAULT_SILENT_CHECK_INTERVAL_S * 1000,
      'the ended entry to leave the gauges',
    );
    const endedDelayS = (performance.now() - ended) / 1000;
    const endedVia: OldEntries['endedVia'] =
      (await destroys()) > destroysBefore ? 'event' : 'lookup';
    const { metrics: after } = await scrapeCounted(live);
    const rereads = after.get('conntrack_exporter_resyncs_total{reason="silent_entries"}');
    if (rereads !== 0) throw new Error(`expected no re-read for silent entries, got ${rereads}`);
    await live.stop();

    // The same exporter checking each entry once an hour instead: what is
    // left is what it costs without the checks (a sixtieth of them remains).
    exporter = await startExporter(
      bench.ns,
      [...COMMON_ARGS, '--mode', 'events', '--silent-check-interval', '1h'],
      { port: EVENTS_PORT, startTimeoutMs: START_TIMEOUT_MS },
    );
    const slow = exporter;
    await expectCounted(slow, entries - 1, 'events');
    // As the first one was before its idle window: the same scrapes, so
    // that both windows start as long after a read of the whole table.
    await timeScrapes(
      bench.ns,
      `${slow.url}/metrics`,
      EVENTS_SCRAPES_WARMUP + EVENTS_SCRAPES_TIMED,
    );
    const [slowCpuPerMinute = NaN] =
      IDLE_SECONDS > 0
        ? await idleCpuPerMinute(
            bench.ns,
            [{ pid: slow.process.pid!, url: `${slow.url}/metrics`, offsetMs: 0 }],
            IDLE_SECONDS,
            SCRAPE_INTERVAL_MS,
          )
        : [];
    const checksCpuPerMinute = cpuPerMinute - slowCpuPerMinute;
    const result = {
      entries,
      scrapeMs,
      cpuPerMinute,
      checksCpuPerMinute,
      rssMB: rss,
      endedDelayS,
      endedVia,
      slice,
      ...cost,
    };
    log(
      `  scrape ${scrapeMs.toFixed(2)} ms (median of ${EVENTS_SCRAPES_TIMED}), ` +
        `${cpuPerMinute.toFixed(3)} CPU-s per minute with 15 s scrapes (${checksCpuPerMinute.toFixed(3)} ` +
        `of it the checks), RSS ${rss.toFixed(1)} MB, an ended entry left the ` +
        `gauges after ${endedDelayS.toFixed(2)} s (by ${endedVia}); per entry: read of the table ` +
        `${cost.dumpMicrosPerEntry.toFixed(2)} µs, in slices of ${slice}: lookup ` +
        `${cost.lookupMicrosPerEntry.toFixed(2)} µs, check ${cost.checkMicrosPerEntry.toFixed(2)} µs`,
    );
    return result;
  } finally {
    await exporter?.stop();
    await bench.destroy();
  }
}

/** Everything but measureSilent and measureOldEntries, on one table of `entries`. */
async function measureTable(
  entries: number,
): Promise<Omit<SizeResult, 'silentScrapeMs' | 'silentCpuSeconds' | 'old'>> {
  log(`${sizeLabel(entries)} entries`);
  const bench = await BenchTable.create();
  const exporters: ExporterProcess[] = [];
  try {
    const filled = await bench.change('create', entries, { offset: 0, hosts: HOSTS });
    const fillPerSecond = filled.done / filled.seconds;
    const count = await bench.count();
    if (count !== entries) throw new Error(`the table holds ${count} entries, not ${entries}`);
    const listMs = median(await bench.timeListing(runsFor(entries).timed));
    log(`  filled at ${fillPerSecond.toFixed(0)}/s; conntrack -L ${listMs.toFixed(1)} ms`);

    const start = async (port: number, args: readonly string[]): Promise<ExporterProcess> => {
      const exporter = await startExporter(bench.ns, [...COMMON_ARGS, ...args], {
        port,
        startTimeoutMs: START_TIMEOUT_MS,
      });
      exporters.push(exporter);
      return exporter;
    };
    // Events mode first: after its scrapes, the dump-mode exporter goes on
    // collecting the garbage of whole-table reads for seconds, on the same
    // two cores, and an events-mode scrape takes milliseconds.
    const eventsExporter = await start(EVENTS_PORT, ['--mode', 'events']);
    const events = await measureMode(bench, eventsExporter, entries, 'events');
    const scrapeCost = await measureEventsScrapeCosts(bench);
    const dumpExporter = SKIP_DUMP ? undefined : await start(DUMP_PORT, ['--mode', 'dump']);
    const dump = dumpExporter && (await measureMode(bench, dumpExporter, entries, 'dump'));

    log(`  idle for ${IDLE_SECONDS} s, scraped every ${SCRAPE_INTERVAL_MS / 1000} s`);
    const idleSubjects = [
      { pid: eventsExporter.process.pid!, url: `${eventsExporter.url}/metrics`, offsetMs: 0 },
    ];
    if (dumpExporter) {
      idleSubjects.push({
        pid: dumpExporter.process.pid!,
        url: `${dumpExporter.url}/metrics`,
        offsetMs: SCRAPE_INTERVAL_MS / 2,
      });
    }
    const [eventsIdle = NaN, dumpIdle = NaN] =
      IDLE_SECONDS > 0
        ? await idleCpuPerMinute(bench.ns, idleSubjects, IDLE_SECONDS, SCRAPE_INTERVAL_MS)
        : [];
    await dumpExporter?.stop();

    const resync = await measureResync(bench, eventsExporter);
    const inserts = await burst(bench, eventsExporter, 'create', entries, entries + BURST);
    const deletes = await burst(bench, eventsExporter, 'destroy', entries, entries);
    await eventsExporter.stop();
    // The same bursts with room for every event: what absorbing them costs
    // without the re-read that repairs a loss.
    log(`  the bursts again with --netlink-buffer-size ${LARGE_BUFFER}`);
    const roomy = await start(EVENTS_PORT, [
      '--mode',
      'events',
      '--netlink-buffer-size',
      LARGE_BUFFER,
    ]);
    const largeBuffer = {
      inserts: await burst(bench, roomy, 'create', entries, entries + BURST),
      deletes: await burst(bench, roomy, 'destroy', entries, entries),
    };
    log('  the bursts again, queued while the exporter is stopped');
    const queued = {
      inserts: await burst(bench, roomy, 'create', entries, entries + BURST, true),
      deletes: await burst(bench, roomy, 'destroy', entries, entries, true),
    };
    return {
      entries,
      fillPerSecond,
      listMs,
      dump: { ...(dump ?? NOT_MEASURED), idleCpuPerMinute: dumpIdle },
      events: { ...events, idleCpuPerMinute: eventsIdle },
      resyncScrapeMs: resync.ms,
      resyncCpuSeconds: resync.cpu,
      inserts,
      deletes,
      largeBuffer,
      queued,
      scrapeCost,
    };
  } finally {
    for (const exporter of exporters) await exporter.stop();
    await bench.destroy();
  }
}

async function measureSize(entries: number): Promise<SizeResult> {
  const result = await measureTable(entries);
  const silent = await measureSilent(entries);
  const old = await measureOldEntries(entries);
  return { ...result, silentScrapeMs: silent.ms, silentCpuSeconds: silent.cpu, old };
}

/**
 * What --collector.link-health costs: on one table, an events-mode exporter
 * without it, then one with it, each given a queued burst of inserts and
 * one of deletes (events per CPU-second: the hook runs for every event),
 * then timed scrapes, which then include the failures and lifetimes the
 * bursts left (the synthetic entries end in every state).
 */
async function measureLinkHealth(entries: number): Promise<void> {
  log(`${sizeLabel(entries)} entries`);
  const bench = await BenchTable.create();
  try {
    await bench.change('create', entries, { offset: 0, hosts: HOSTS });
    for (const [name, extra] of [
      ['events', []],
      ['events, --collector.link-health', ['--collector.link-health']],
    ] as const) {
      const exporter = await startExporter(
        bench.ns,
        [...COMMON_ARGS, '--mode', 'events', '--netlink-buffer-size', LARGE_BUFFER, ...extra],
        { port: EVENTS_PORT, startTimeoutMs: START_TIMEOUT_MS },
      );
      try {
        const inserts = await burst(bench, exporter, 'create', entries, entries + BURST, true);
        const deletes = await burst(bench, exporter, 'destroy', entries, entries, true);
        const scrape = await measureMode(bench, exporter, entries, 'events');
        const perCpu = (b: Burst) => (b.events / b.cpuSeconds).toFixed(0);
        log(
          `  ${name}: queued inserts ${perCpu(inserts)} events per CPU-second, deletes ${perCpu(deletes)}; ` +
            `scrape ${scrape.scrapeMs.toFixed(2)} ms`,
        );
      } finally {
        await exporter.stop();
      }
    }
  } finally {
    await bench.destroy();
  }
}

/**
 * Only the events-mode scrape latency: what a change to the scrape path
 * needs to see, without the dump-mode, idle and burst runs around it.
 */
async function measureEventsScrape(entries: number): Promise<void> {
  log(`${sizeLabel(entries)} entries`);
  const bench = await BenchTable.create();
  let exporter: ExporterProcess | undefined;
  try {
    await bench.change('create', entries, { offset: 0, hosts: HOSTS });
    const count = await bench.count();
    if (count !== entries) throw new Error(`the table holds ${count} entries, not ${entries}`);
    exporter = await startExporter(bench.ns, [...COMMON_ARGS, '--mode', 'events'], {
      port: EVENTS_PORT,
      startTimeoutMs: START_TIMEOUT_MS,
    });
    await measureMode(bench, exporter, entries, 'events');
  } finally {
    await exporter?.stop();
    await bench.destroy();
  }
}

/**
 * An events-mode scrape's cost, and `baseline`'s (a program) beside it when
 * given, measured side by side (see measureScrapeCosts); then with
 * --collector.nodejs, alone: its event loop monitor wakes the process every
 * 10 ms, which disturbs whatever runs beside it (with it beside them, the
 * build's and the baseline's curl scrapes cost 4.0-4.2 ms in two runs;
 * without, 3.6-3.9 in one).
 */
async function measureEventsScrapeCosts(
  bench: BenchTable,
  baseline?: string,
): Promise<{ plain: ScrapeCost; nodejs: ScrapeCost; baseline?: ScrapeCost }> {
  const options = { port: COST_PORT, startTimeoutMs: START_TIMEOUT_MS };
  const args = [...COMMON_ARGS, '--mode', 'events'];
  const subjects: CostSubject[] = [{ args }];
  if (baseline !== undefined) subjects.push({ args, program: baseline, parts: false });
  const [plain, base] = await measureScrapeCosts(bench, subjects, options);
  if (base !== undefined) logCost(`baseline ${baseline}`, base);
  logCost('scrape cost', plain!);
  const [nodejs] = await measureScrapeCosts(
    bench,
    [{ args: [...args, '--collector.nodejs'] }],
    options,
  );
  logCost('with --collector.nodejs', nodejs!);
  return { plain: plain!, nodejs: nodejs!, baseline: base };
}

function logCost(what: string, cost: ScrapeCost): void {
  const parts = Object.entries(cost.parts ?? {})
    .map(([part, ms]) => `${part} ${ms.toFixed(2)}`)
    .join(', ');
  log(
    `  ${what}: ${cost.cpuMs.toFixed(2)} ms CPU per scrape (${cost.keptAliveCpuMs.toFixed(2)} kept alive, ` +
      `${cost.gzipCpuMs.toFixed(2)} with gzip, ${cost.spacedGzipCpuMs.toFixed(2)} with gzip spaced out, ` +
      `${cost.floorCpuMs.toFixed(2)} for the landing page, ` +
      `${cost.nodeFloorCpuMs.toFixed(2)} for Node's own HTTP server, ` +
      `${cost.bodyFloorCpuMs.toFixed(2)} and ${cost.bodyGzipFloorCpuMs.toFixed(2)} with gzip ` +
      `for it sending a copy of the body), ` +
      `median ${cost.scrapeMs.toFixed(2)} ms, ${(cost.bytes / 1024).toFixed(0)} KiB, ${cost.series} series` +
      `${parts === '' ? '' : `; parts (ms): ${parts}`}`,
  );
}

/**
 * Only the events-mode scrape's cost and its parts, and BENCH_BASELINE's
 * beside it on the same table: printed as a table of their own.
 */
async function measureScrapeCostOnly(entries: number): Promise<void> {
  log(`${sizeLabel(entries)} entries`);
  const bench = await BenchTable.create();
  try {
    await bench.change('create', entries, { offset: 0, hosts: HOSTS });
    const count = await bench.count();
    if (count !== entries) throw new Error(`the table holds ${count} entries, not ${entries}`);
    const columns: Array<[string, ScrapeCost]> = [];
    const { plain, nodejs, baseline } = await measureEventsScrapeCosts(bench, BASELINE);
    if (baseline !== undefined) columns.push([`baseline (${BASELINE})`, baseline]);
    columns.push(['this build', plain], ['this build, `--collector.nodejs`', nodejs]);
    const header = [`${sizeLabel(entries)} entries`, ...columns.map(([name]) => name)];
    const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
    lines.push(
      `| Scrape, events mode (ms, median) | ${columns.map(([, c]) => costCell(c.scrapeMs)).join(' | ')} |`,
    );
    for (const row of COST_ROWS) {
      lines.push(
        `| ${[row.label, ...columns.map(([, cost]) => costCell(row.value(cost)))].join(' | ')} |`,
      );
    }
    process.stdout.write(`\n${lines.join('\n')}\n`);
  } finally {
    await bench.destroy();
  }
}

/** Other benchmarks on the same two cores would make every figure meaningless. */
function warnAboutOtherBenchmarks(): void {
  let found = '';
  try {
    found = execFileSync('pgrep', ['-af', 'iperf3|haproxy|bench/'], { encoding: 'utf8' });
  } catch {
    return; // pgrep exits 1 when nothing matches.
  }
  const others = found
    .split('\n')
    .filter(
      (line) =>
        line !== '' && !line.includes('bench/conntrack/') && !line.startsWith(`${process.pid} `),
    );
  if (others.length > 0)
    log(`warning: other benchmarks are running, figures will be off:\n  ${others.join('\n  ')}`);
}

function version(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8' }).split('\n')[0]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  warnAboutOtherBenchmarks();
  const limits = raiseTableLimits(Math.max(...SIZES) + BURST);
  log(limits.note);
  const results: SizeResult[] = [];
  try {
    for (const entries of SIZES) {
      if (ONLY === 'events-scrape') await measureEventsScrape(entries);
      else if (ONLY === 'scrape-cost') await measureScrapeCostOnly(entries);
      else if (ONLY === 'link-health') await measureLinkHealth(entries);
      else if (ONLY === 'traffic') {
        log(`${sizeLabel(entries)} entries`);
        await measureTraffic(entries, HOSTS, COMMON_ARGS, IDLE_SECONDS, log);
      } else if (ONLY === 'old-entries') await measureOldEntries(entries);
      else results.push(await measureSize(entries));
    }
  } finally {
    limits.restore();
  }
  if (ONLY !== undefined) return;
  const full = SIZES.join(',') === DEFAULT_SIZES.join(',') && !SKIP_DUMP && IDLE_SECONDS > 0;
  const command = full ? 'make bench' : `make bench BENCH_SIZES=${SIZES.join(',')}`;
  const body = [
    `Command: \`${command}\` (bench/conntrack/run.ts), ${new Date().toISOString().slice(0, 10)}.`,
    `Machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}), Linux ${os.release()}, ` +
      `Node ${process.version}, ${version('conntrack', ['--version'])}.`,
    `Synthetic TCP entries (bench/conntrack/fill.c): ${HOSTS} remote hosts, one in four IPv6, ` +
      'two in three connecting in, 70% ESTABLISHED, 12% TIME_WAIT, the rest in every other state. ' +
      `Exporter options: \`${COMMON_ARGS.join(' ')}\` and \`--mode dump\` or \`--mode events\` ` +
      `(re-read every ${RESYNC_INTERVAL_S} s, the default). Scrapes with curl from inside the namespace; ` +
      'latencies are medians (events mode: of 101 scrapes, after 10 untimed). CPU is user + system time of the exporter from /proc. ' +
      "CPU per scrape (the exporter's idle use taken off) is the median of three passes of 101 scrapes after 300 untimed, each on a new connection as curl makes them " +
      "(beside the same for Node's own HTTP server answering a few bytes, and sending a copy of the exporter's body from memory), " +
      'and, the median of five passes of 201 after 300 untimed, all over one kept-alive connection, and kept alive asking for gzip as Prometheus does ' +
      "(beside Node's own server gzipping and sending the copy), and the same spaced out: 21 scrapes 5 s apart, CPU of every thread from schedstat up to 200 ms after each answer " +
      '(see bench/conntrack/scrape-cost.ts; with BENCH_BASELINE, the baseline runs beside the build, their passes taking turns); ' +
      'its parts come from a second ' +
      'exporter on the same table with `CONNTRACK_SCRAPE_TIMING=1` (src/collectors/scrape-timing.ts). The bursts make ' +
      'or remove 100k entries as fast as the kernel takes them, on top of the table. As they come, events ' +
      'are absorbed no faster than the kernel makes them, and the helper making them shares the two cores ' +
      'with the exporter; a queued burst is made while the exporter is stopped (SIGSTOP) and waits in its ' +
      "socket, and its rate, from SIGCONT to the last event handled, is the exporter's own. The target of " +
      '200,000 events/s is judged on it. The rows on entries older than the exporter use a namespace of ' +
      `their own with \`nf_conntrack_events=2\`: ${SILENT} entries made before the exporter starts, which ` +
      'may send no events, and the rest of the table after; those where every entry predates the ' +
      'exporter, a namespace with the whole table made before it starts, checked every ' +
      `${DEFAULT_SILENT_CHECK_INTERVAL_S} s (the default); the cost per entry of a read of the ` +
      'table and of a lookup is CPU (user + system, kernel included) of bench/conntrack/check-cost.ts ' +
      'over every entry of that table.',
    'The machine is shared and noisy: compare the columns of one run, not runs.',
    '',
    table(results),
    '',
    verdicts(results),
    '',
  ].join('\n');
  process.stdout.write(`\n${body}`);
  if (full) writeSection('BENCHMARKS.md', 'Conntrack exporter', body);
  else
    log('BENCHMARKS.md not written: it holds the full run (make bench without BENCH_* settings)');
}

main().catch((error: unknown) => {
  log(`bench: ${String((error as Error)?.stack ?? error)}`);
  process.exit(1);
});
