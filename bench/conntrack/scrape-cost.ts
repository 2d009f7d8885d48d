/**
 * What one events-mode scrape costs the exporter, and in which part: CPU
 * per scrape from /proc over many scrapes (everything: HTTP, garbage
 * collection, the event loop), with the timing off; then the parts timed
 * inside a second exporter on the same table with CONNTRACK_SCRAPE_TIMING=1
 * (src/collectors/scrape-timing.ts), whose reading of the CPU clock costs
 * a little itself. Exporters compared (the build and a baseline) run
 * side by side and are measured in turns. What the timed parts leave
 * is "the rest": HTTP, prom-client's formatting of its families, garbage
 * collection, the glue between the parts. Node's own HTTP server, with no
 * exporter code, is measured beside them (answering "ok", and sending a
 * copy of the first exporter's body from memory) while they sit idle.
 */
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { parseExposition, startExporter, type ExporterProcess } from '../../test/helpers/exporter';
import {
  SCRAPE_PARTS,
  SCRAPE_TIMING_VARIABLE,
  ScrapePart,
} from '../../src/collectors/scrape-timing';
import { cpuSeconds, fetchKeptAlive, fetchTimed } from './measure';
import type { BenchTable } from './table';

type Pass = 'new-connection' | 'kept-alive' | 'kept-alive-gzip' | 'floor' | 'node-floor';

/**
 * Requests timed for each figure: `passes` runs of `timed` requests after
 * `warmup` untimed, the figure the median of the passes. /proc counts CPU
 * in 10 ms ticks: 101 scrapes of ~2 ms gave a tenth of a millisecond of
 * rounding alone; back-to-back passes of 101 moved between 1.0 and 2.8 ms
 * (this machine's speed itself moves by ±15% within seconds); and V8 takes
 * hundreds of requests to optimize the code a request runs (the first
 * hundred cost about twice the later ones, and with one curl per request
 * V8 was still compiling after 700), where an exporter that runs for days
 * pays the settled cost. So every figure is the median of passes after
 * 300 requests; a curl per request takes ~10 ms, so those passes are
 * shorter.
 */
const PASS_SCRAPES: Record<Pass, { warmup: number; timed: number; passes: number }> = {
  'new-connection': { warmup: 300, timed: 101, passes: 3 },
  floor: { warmup: 300, timed: 101, passes: 3 },
  'node-floor': { warmup: 300, timed: 101, passes: 3 },
  'kept-alive': { warmup: 300, timed: 201, passes: 5 },
  'kept-alive-gzip': { warmup: 300, timed: 201, passes: 5 },
};
/** The exporter left alone this long first: what it uses without scrapes is not the scrapes'. */
const IDLE_MS = 2000;
const PART_METRIC = 'conntrack_exporter_scrape_part_seconds_total';

export interface ScrapeCost {
  /** Median wall time of a plain scrape on a new connection (curl), ms. */
  scrapeMs: number;
  /** CPU per plain scrape, each on a new connection (as the latency rows: one curl each), ms. */
  cpuMs: number;
  /** CPU per plain scrape, all over one kept-alive connection, ms. */
  keptAliveCpuMs: number;
  /** CPU per scrape asking for gzip over one kept-alive connection, as Prometheus scrapes, ms. */
  gzipCpuMs: number;
  /**
   * The same, but one scrape every SPACED_GAP_MS as Prometheus spaces them,
   * not one after the other: the median over SPACED_SCRAPES, ms.
   */
  spacedGzipCpuMs: number;
  /**
   * CPU per request of the landing page, each on a new connection: what
   * accepting, reading and answering a request costs however little it
   * renders (and the conntrack events of its own connection), ms.
   */
  floorCpuMs: number;
  /**
   * CPU per request of a Node.js HTTP server with no exporter code (it
   * answers "ok"), each on a new connection, measured beside this column:
   * what Node itself costs a curl, ms.
   */
  nodeFloorCpuMs: number;
  /**
   * CPU per request of a Node.js HTTP server sending a copy of this
   * exporter's body from memory (no exporter code), measured beside this
   * column: each on a new connection, and kept alive gzipping it per
   * request as the exporter does. What serving this many bytes costs in
   * Node before anything is rendered, ms.
   */
  bodyFloorCpuMs: number;
  bodyGzipFloorCpuMs: number;
  /** Each timed part per plain scrape, ms (gzip: per gzip scrape); undefined when not timed. */
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

/** A server whose CPU per request is measured: its process and its address. */
interface Target {
  pid: number;
  url: string;
  /** The exporter's timed parts so far; undefined for another server. */
  parts?: () => Promise<Record<ScrapePart, number> | undefined>;
}

function targetOf(exporter: ExporterProcess): Target {
  return { pid: exporter.process.pid!, url: exporter.url, parts: () => partSeconds(exporter) };
}

/** `count` requests to `target` as `pass` makes them. */
async function requests(
  bench: BenchTable,
  target: Target,
  pass: Pass,
  count: number,
): Promise<Array<{ ms: number; bytes: number }>> {
  const url = `${target.url}${pass === 'floor' || pass === 'node-floor' ? '/' : '/metrics'}`;
  if (pass === 'kept-alive' || pass === 'kept-alive-gzip') {
    return fetchKeptAlive(bench.ns, url, count, { gzip: pass === 'kept-alive-gzip' });
  }
  const results: Array<{ ms: number; bytes: number }> = [];
  for (let i = 0; i < count; i++) results.push(await fetchTimed(bench.ns, url));
  return results;
}

/** A server measured, with the CPU it uses left alone (ms per ms), taken off its figures. */
interface Measured {
  target: Target;
  idleCpuPerMs: number;
}

interface PassCost {
  ms: number;
  cpuMs: number;
  bytes: number;
  parts?: Record<ScrapePart, number>;
}

/**
 * For each server: CPU per request, the median of the passes (its idle use
 * over the same time taken off); each part's time per request over all
 * passes; and the requests' median latency and size. With several servers
 * the passes take turns (one of each, then again): this machine's speed
 * drifts by more than the differences measured within minutes, and one
 * server measured after the other took a different machine each.
 */
async function costsOf(
  bench: BenchTable,
  servers: readonly Measured[],
  pass: Pass,
): Promise<PassCost[]> {
  const { warmup, timed, passes } = PASS_SCRAPES[pass];
  for (const { target } of servers) await requests(bench, target, pass, warmup);
  const before = await Promise.all(servers.map(({ target }) => target.parts?.()));
  const cpuPerPass: number[][] = servers.map(() => []);
  const done: Array<Array<{ ms: number; bytes: number }>> = servers.map(() => []);
  for (let i = 0; i < passes; i++) {
    for (const [s, { target, idleCpuPerMs }] of servers.entries()) {
      const cpuBefore = cpuSeconds(target.pid);
      const start = performance.now();
      done[s]!.push(...(await requests(bench, target, pass, timed)));
      const elapsedMs = performance.now() - start;
      const cpuMs = (cpuSeconds(target.pid) - cpuBefore) * 1000 - idleCpuPerMs * elapsedMs;
      cpuPerPass[s]!.push(cpuMs / timed);
    }
  }
  const after = await Promise.all(servers.map(({ target }) => target.parts?.()));
  const count = timed * passes;
  return servers.map((_, s) => {
    const [from, to] = [before[s], after[s]];
    return {
      ms: median(done[s]!.map((one) => one.ms)),
      cpuMs: median(cpuPerPass[s]!),
      bytes: median(done[s]!.map((one) => one.bytes)),
      parts:
        from &&
        to &&
        (Object.fromEntries(
          SCRAPE_PARTS.map((part) => [part, ((to[part] - from[part]) * 1000) / count]),
        ) as Record<ScrapePart, number>),
    };
  });
}

/** Scrapes per exporter, and the time between two of the same exporter's, for the spaced row. */
const SPACED_SCRAPES = 21;
const SPACED_GAP_MS = 5_000;
/** After each answer: what the scrape leaves (V8's concurrent work) is counted to it. */
const SPACED_SETTLE_MS = 200;

// Scrapes each target (`url,pid` in argv[3...]) argv[1] times over one
// kept-alive connection asking for gzip, argv[2] ms apart, and prints the
// CPU time of every thread of its process around each, from schedstat in
// nanoseconds (/proc's 10 ms ticks are too coarse for one scrape).
const SPACED_CLIENT = `const http = require('node:http');
const fs = require('node:fs');
const [count, gapMs, ...specs] = process.argv.slice(1);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const targets = specs.map((spec) => ({ url: spec.split(',')[0], pid: spec.split(',')[1], ms: [] }));
const cpuNs = (pid) =>
  fs.readdirSync('/proc/' + pid + '/task').reduce((sum, task) => {
    try {
      return sum + Number(fs.readFileSync('/proc/' + pid + '/task/' + task + '/schedstat', 'utf8').split(' ')[0]);
    } catch {
      return sum;
    }
  }, 0);
const get = (url) =>
  new Promise((resolve, reject) =>
    http
      .get(url, { agent, headers: { 'accept-encoding': 'gzip' } }, (response) => {
        if (response.statusCode !== 200) reject(new Error(url + ': ' + response.statusCode));
        response.resume().on('end', resolve);
      })
      .on('error', reject),
  );
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
(async () => {
  for (const target of targets) await get(target.url);
  for (let i = 0; i < Number(count); i++) {
    for (const target of targets) {
      await pause(Number(gapMs) / targets.length);
      const before = cpuNs(target.pid);
      await get(target.url);
      await pause(${SPACED_SETTLE_MS});
      target.ms.push((cpuNs(target.pid) - before) / 1e6);
    }
  }
  console.log(JSON.stringify(targets.map((target) => target.ms)));
})().catch((error) => {
  console.error(error.message);
  process.exit(1);
});`;

/**
 * CPU per scrape of each server scraped as Prometheus does: kept alive,
 * gzip, one scrape every SPACED_GAP_MS (the servers' scrapes staggered
 * between); the median, ms. The other rows take scrapes one after the
 * other, which keeps the process and its code hot; spaced out, a scrape
 * costs more (BENCHMARKS.md says how much, and what it is not).
 */
async function spacedCostsOf(bench: BenchTable, servers: readonly Measured[]): Promise<number[]> {
  const targets = servers.map(({ target }) => `${target.url}/metrics,${target.pid}`);
  // Spawned, not exec'd: it runs longer than exec's time limit.
  const client = bench.ns.spawn([
    process.execPath,
    '-e',
    SPACED_CLIENT,
    String(SPACED_SCRAPES),
    String(SPACED_GAP_MS),
    ...targets,
  ]);
  let stdout = '';
  let stderr = '';
  client.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  client.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  // 'close', not 'exit': it comes after the last of its output.
  const [code] = (await once(client, 'close')) as [number | null];
  if (code !== 0) throw new Error(`spaced scrapes failed (${code}): ${stderr.trim()}`);
  const perServer = JSON.parse(stdout) as number[][];
  // The servers' idle use is not taken off: measured in /proc's ticks, it
  // would be a whole tick or none over SPACED_SETTLE_MS, where it is about
  // 0.1 ms (BENCHMARKS.md, "Idle CPU at 100k").
  return servers.map((_, i) => median(perServer[i] ?? []));
}

/** One exporter whose scrape is measured: its arguments, and its program if not this build's. */
export interface CostSubject {
  args: readonly string[];
  program?: string;
  /** False for a build that cannot time its parts (without CONNTRACK_SCRAPE_TIMING). */
  parts?: boolean;
}

/**
 * Measures exporters in the table's namespace, all running at once on
 * ports from `options.port` up, their passes taking turns: CPU per scrape
 * with the timing off; then, one at a time, each part's time with it on
 * (unless the subject's `parts` is false).
 */
export async function measureScrapeCosts(
  bench: BenchTable,
  subjects: readonly CostSubject[],
  options: { port: number; startTimeoutMs: number },
): Promise<ScrapeCost[]> {
  const exporters: ExporterProcess[] = [];
  const costs: ScrapeCost[] = [];
  try {
    for (const [i, { args, program }] of subjects.entries()) {
      exporters.push(await start(bench, args, { ...options, port: options.port + i, program }));
    }
    // Measured while the exporters sit idle, on a port after theirs.
    const nodeFloor = await plainNodeCosts(
      bench,
      options.port + subjects.length,
      await exporters[0]!.scrape(),
    );
    const servers: Measured[] = [];
    for (const exporter of exporters) {
      servers.push({ target: targetOf(exporter), idleCpuPerMs: await idleCpu(exporter) });
    }
    const plain = await costsOf(bench, servers, 'new-connection');
    const keptAlive = await costsOf(bench, servers, 'kept-alive');
    const gzipped = await costsOf(bench, servers, 'kept-alive-gzip');
    const spaced = await spacedCostsOf(bench, servers);
    const floor = await costsOf(bench, servers, 'floor');
    for (const [i, exporter] of exporters.entries()) {
      costs.push({
        scrapeMs: plain[i]!.ms,
        cpuMs: plain[i]!.cpuMs,
        keptAliveCpuMs: keptAlive[i]!.cpuMs,
        gzipCpuMs: gzipped[i]!.cpuMs,
        spacedGzipCpuMs: spaced[i]!,
        floorCpuMs: floor[i]!.cpuMs,
        nodeFloorCpuMs: nodeFloor.ok,
        bodyFloorCpuMs: nodeFloor.body,
        bodyGzipFloorCpuMs: nodeFloor.bodyGzip,
        bytes: plain[i]!.bytes,
        gzipBytes: gzipped[i]!.bytes,
        series: [...parseExposition(await exporter.scrape()).keys()].length,
      });
    }
  } finally {
    await Promise.all(exporters.map((exporter) => exporter.stop()));
  }
  for (const [i, { args, program, parts }] of subjects.entries()) {
    if (parts !== false) costs[i]!.parts = await partsOf(bench, args, { ...options, program });
  }
  return costs;
}

/** Each part's time per kept-alive scrape, from an exporter started with the timing on. */
async function partsOf(
  bench: BenchTable,
  args: readonly string[],
  options: { port: number; startTimeoutMs: number; program?: string },
): Promise<ScrapeCost['parts']> {
  const timed = await start(bench, args, options, true);
  try {
    const servers = [{ target: targetOf(timed), idleCpuPerMs: await idleCpu(timed) }];
    const [keptAlive] = await costsOf(bench, servers, 'kept-alive');
    const [gzipped] = await costsOf(bench, servers, 'kept-alive-gzip');
    const gzip = gzipped?.parts?.gzip;
    return keptAlive?.parts && gzip !== undefined ? { ...keptAlive.parts, gzip } : undefined;
  } finally {
    await timed.stop();
  }
}

function start(
  bench: BenchTable,
  args: readonly string[],
  options: { port: number; startTimeoutMs: number; program?: string },
  timing = false,
): Promise<ExporterProcess> {
  return startExporter(bench.ns, args, {
    port: options.port,
    startTimeoutMs: options.startTimeoutMs,
    program: options.program,
    env: timing ? { [SCRAPE_TIMING_VARIABLE]: '1' } : {},
  });
}

/** CPU ms per ms the exporter uses left alone (after a first scrape). */
async function idleCpu(exporter: ExporterProcess): Promise<number> {
  await exporter.scrape();
  return idleCpuOf(exporter.process.pid!);
}

/** CPU ms per ms process `pid` uses over IDLE_MS left alone. */
async function idleCpuOf(pid: number): Promise<number> {
  const before = cpuSeconds(pid);
  await pause(IDLE_MS);
  return ((cpuSeconds(pid) - before) * 1000) / IDLE_MS;
}

// Node's HTTP server with nothing of the exporter: port in argv[1]. With a
// file in argv[2], it sends that file's bytes as the exporter sends a body
// (gzipped at level 1 on the JS thread when asked); otherwise "ok".
const PLAIN_SERVER = `const body = process.argv[2] && require('node:fs').readFileSync(process.argv[2]);
require('node:http')
  .createServer((request, response) => {
    if (!body) return response.end('ok');
    response.setHeader('Content-Type', 'text/plain; version=0.0.4; charset=utf-8');
    if (!/\\bgzip\\b/.test(request.headers['accept-encoding'] ?? '')) return response.end(body);
    response.setHeader('Content-Encoding', 'gzip');
    response.end(require('node:zlib').gzipSync(body, { level: 1 }));
  })
  .listen(Number(process.argv[1]), '127.0.0.1', () => console.log('listening'));`;

/** CPU per request of PLAIN_SERVER (the Node.js that runs the benchmark), as `pass` makes them. */
async function plainNodeCost(
  bench: BenchTable,
  port: number,
  pass: Pass,
  bodyFile?: string,
): Promise<number> {
  const server = bench.ns.spawn([
    process.execPath,
    '-e',
    PLAIN_SERVER,
    String(port),
    ...(bodyFile ? [bodyFile] : []),
  ]);
  try {
    const [chunk] = (await once(server.stdout!, 'data')) as [Buffer];
    if (!chunk.toString().includes('listening')) throw new Error(`plain server: ${chunk}`);
    const pid = server.pid!;
    const idleCpuPerMs = await idleCpuOf(pid);
    const target = { pid, url: `http://127.0.0.1:${port}` };
    const [cost] = await costsOf(bench, [{ target, idleCpuPerMs }], pass);
    return cost!.cpuMs;
  } finally {
    server.kill();
    await once(server, 'exit');
  }
}

/**
 * The part of a scrape's CPU no exporter code can take away, on `port`:
 * Node answering "ok" on a new connection (the landing page's row), and
 * Node sending a copy of `body` from memory, on a new connection and kept
 * alive with gzip (the scrape's rows), ms.
 */
async function plainNodeCosts(
  bench: BenchTable,
  port: number,
  body: string,
): Promise<{ ok: number; body: number; bodyGzip: number }> {
  const directory = await mkdtemp(path.join(tmpdir(), 'scrape-body-'));
  const bodyFile = path.join(directory, 'metrics');
  try {
    await writeFile(bodyFile, body);
    return {
      ok: await plainNodeCost(bench, port, 'node-floor'),
      body: await plainNodeCost(bench, port, 'new-connection', bodyFile),
      bodyGzip: await plainNodeCost(bench, port, 'kept-alive-gzip', bodyFile),
    };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** The rest of a plain kept-alive scrape's CPU: what the timed parts (gzip aside) leave. */
export function restMs(cost: ScrapeCost): number {
  if (cost.parts === undefined) return NaN;
  const timed = SCRAPE_PARTS.filter((part) => part !== 'gzip').reduce(
    (sum, part) => sum + cost.parts![part],
    0,
  );
  return cost.keptAliveCpuMs - timed;
}

/** One row of a scrape's cost: its label and its value. */
export interface CostRow {
  label: string;
  value: (cost: ScrapeCost) => number | string;
  /** The value for the main table's columns. */
  target?: string;
  original?: string;
}

/** What a scrape costs, row by row: the same rows in make bench's table and BENCH_ONLY=scrape-cost. */
export const COST_ROWS: readonly CostRow[] = [
  {
    label: 'CPU per scrape, each on a new connection (ms)',
    value: (c) => c.cpuMs,
    target: '≤ 2 at 100k',
    original: '1.0',
  },
  {
    label: '… of which a request that renders nothing (the landing page) costs (ms)',
    value: (c) => c.floorCpuMs,
  },
  {
    label: '… and of that, Node.js itself (its HTTP server answering "ok", no exporter code) (ms)',
    value: (c) => c.nodeFloorCpuMs,
  },
  {
    label: '… beside it, Node.js sending a copy of this body from memory, no exporter code (ms)',
    value: (c) => c.bodyFloorCpuMs,
  },
  { label: 'CPU per scrape over one kept-alive connection (ms)', value: (c) => c.keptAliveCpuMs },
  ...SCRAPE_PARTS.filter((part) => part !== 'gzip').map((part): CostRow => ({
    label: `… ${part} (ms)`,
    value: (c) => c.parts?.[part] ?? NaN,
  })),
  { label: '… the rest: HTTP, prom-client formatting, garbage collection (ms)', value: restMs },
  {
    label: 'CPU per scrape asking for gzip, kept alive, as Prometheus scrapes (ms)',
    value: (c) => c.gzipCpuMs,
  },
  { label: '… gzip (ms)', value: (c) => c.parts?.gzip ?? NaN },
  {
    label: `… the same, one scrape every ${SPACED_GAP_MS / 1000} s instead of one after the other (ms)`,
    value: (c) => c.spacedGzipCpuMs,
  },
  {
    label:
      '… beside it, Node.js sending the copy of this body, gzipped per request, kept alive (ms)',
    value: (c) => c.bodyGzipFloorCpuMs,
  },
  {
    label: 'Scrape body (KiB; gzipped)',
    value: (c) => `${(c.bytes / 1024).toFixed(0)}; ${(c.gzipBytes / 1024).toFixed(0)}`,
    original: '50',
  },
  { label: 'Series in a scrape', value: (c) => c.series, original: '917' },
];

/** A value as a table cell: two decimals, nothing when not measured. */
export function costCell(value: number | string | undefined): string {
  if (typeof value === 'string') return value;
  if (value === undefined || !Number.isFinite(value)) return '';
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}
