/**
 * The conntrack benchmark's results as one Markdown table (a column per
 * table size, then the target and the original C++ exporter's figure),
 * the verdicts on the targets, and its section of BENCHMARKS.md.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

import { DEFAULT_RESYNC_INTERVAL_S } from '../../src/options/table-reading-config';
import { COST_ROWS, costCell, type ScrapeCost } from './scrape-cost';

export interface Burst {
  events: number;
  /** Entries a second the helper made or removed in the kernel (the offered rate). */
  producedPerSecond: number;
  /** First to last event absorbed by the exporter. */
  seconds: number;
  cpuSeconds: number;
  /** Events of the burst the exporter never received (the kernel dropped them). */
  lost: number;
  /** The live table, and the sum of the connection gauges, equal `conntrack -C`. */
  consistent: boolean;
}

export interface SizeResult {
  entries: number;
  fillPerSecond: number;
  listMs: number;
  dump: ModeResult;
  events: ModeResult;
  /** A scrape that re-reads the table (events mode), and the CPU it took. */
  resyncScrapeMs: number;
  resyncCpuSeconds: number;
  /** A scrape while 1,000 entries older than the exporter send no events, and its CPU. */
  silentScrapeMs: number;
  silentCpuSeconds: number;
  /** With the default receive buffer, then with LARGE_BUFFER. */
  inserts: Burst;
  deletes: Burst;
  largeBuffer: { inserts: Burst; deletes: Burst };
  /** With LARGE_BUFFER, made while the exporter was stopped, absorbed once it went on. */
  queued: { inserts: Burst; deletes: Burst };
  /** An events-mode scrape's CPU and its parts, without and with --collector.nodejs. */
  scrapeCost: { plain: ScrapeCost; nodejs: ScrapeCost };
  /** Every entry made before the exporter started (nf_conntrack_events=2). */
  old: OldEntries;
}

export interface OldEntries {
  entries: number;
  scrapeMs: number;
  /** The exporter's CPU per minute with a scrape every 15 s, its background checks included. */
  cpuPerMinute: number;
  /** cpuPerMinute minus the same with --silent-check-interval 1h: the background checks' share. */
  checksCpuPerMinute: number;
  /** The exporter's resident memory after that minute, every entry still listed as silent. */
  rssMB: number;
  /** From the end of one old entry until the gauges no longer count it. */
  endedDelayS: number;
  /** How the exporter learned of that end: the kernel's DESTROY event, or a lookup. */
  endedVia: 'event' | 'lookup';
  /** Entries per lookup call (a tick's share at the default interval). */
  slice: number;
  dumpMicrosPerEntry: number;
  lookupMicrosPerEntry: number;
  checkMicrosPerEntry: number;
}

export interface ModeResult {
  scrapeMs: number;
  rssStartMB: number;
  /** Median RSS over repeated scrapes. */
  rssScrapedMB: number;
  /** Median RSS over the second half of those scrapes, minus that over the first half. */
  rssGrowthMB: number;
  idleCpuPerMinute: number;
}

interface Row {
  label: string;
  value: (result: SizeResult) => number | string | undefined;
  digits: number;
  target?: string;
  original?: string;
}

// The exporter's default, which the idle figure with re-reads is about.
export const RESYNC_INTERVAL_S = DEFAULT_RESYNC_INTERVAL_S;
/** The receive buffer the second pair of bursts is absorbed with. */
export const LARGE_BUFFER = '256M';
const QUEUED = `Queued burst of 100k (exporter stopped meanwhile, ${LARGE_BUFFER})`;

/** Idle CPU in events mode, with the default periodic re-read spread over its interval. */
function idleWithResync(result: SizeResult): number {
  return result.events.idleCpuPerMinute + (result.resyncCpuSeconds * 60) / RESYNC_INTERVAL_S;
}

const ratio = (a: number, b: number): number => a / b;
const yesNo = (ok: boolean): string => (ok ? 'yes' : '**no**');

function bursts(result: SizeResult): Burst[] {
  const { inserts, deletes, largeBuffer, queued } = result;
  return [
    inserts,
    deletes,
    largeBuffer.inserts,
    largeBuffer.deletes,
    queued.inserts,
    queued.deletes,
  ];
}

function burstRows(
  what: string,
  pick: (result: SizeResult) => Burst,
  targets: {
    cpu?: string;
    cpuOriginal?: string;
    rate?: string;
    lost?: string;
    lostOriginal?: string;
  },
): Row[] {
  return [
    {
      label: `${what}: exporter CPU (s)`,
      value: (r) => pick(r).cpuSeconds,
      digits: 2,
      target: targets.cpu,
      original: targets.cpuOriginal,
    },
    {
      // The kernel makes the events no faster than the helper makes entries.
      label: `${what}: events/s absorbed (made by the kernel)`,
      value: (r) =>
        `${cell(pick(r).events / pick(r).seconds, 0)} (${cell(pick(r).producedPerSecond, 0)})`,
      digits: 0,
      target: targets.rate,
    },
    {
      label: `${what}: events per exporter CPU-second`,
      value: (r) => pick(r).events / pick(r).cpuSeconds,
      digits: 0,
    },
    {
      label: `${what}: events lost (repaired by a re-read)`,
      value: (r) => pick(r).lost,
      digits: 0,
      target: targets.lost,
      original: targets.lostOriginal,
    },
  ];
}

function modeRows(
  mode: string,
  pick: (result: SizeResult) => ModeResult,
  targets: { rss?: string; rssOriginal?: string; growth?: string },
): Row[] {
  return [
    { label: `RSS after start, ${mode} mode (MB)`, value: (r) => pick(r).rssStartMB, digits: 1 },
    {
      label: `RSS while scraped, ${mode} mode (MB, median)`,
      value: (r) => pick(r).rssScrapedMB,
      digits: 1,
      target: targets.rss,
      original: targets.rssOriginal,
    },
    {
      label: `RSS growth while scraped, ${mode} mode (MB, second half − first)`,
      value: (r) => pick(r).rssGrowthMB,
      digits: 1,
      target: targets.growth,
    },
    {
      label: `Idle CPU per minute, ${mode} mode, 15 s scrapes (s)`,
      value: (r) => pick(r).idleCpuPerMinute,
      digits: 3,
    },
  ];
}

/** CPU per events-mode scrape and what each part costs; the same with `--collector.nodejs`. */
function scrapeCostRows(): Row[] {
  const rows = (pick: (r: SizeResult) => ScrapeCost, suffix: string, only?: string[]) =>
    COST_ROWS.filter((row) => only === undefined || only.includes(row.label)).map((row): Row => ({
      label: `${row.label}${suffix}`,
      value: (r) => costCell(row.value(pick(r))),
      digits: 0,
      target: suffix === '' ? row.target : undefined,
      original: suffix === '' ? row.original : undefined,
    }));
  return [
    ...rows((r) => r.scrapeCost.plain, ''),
    ...rows((r) => r.scrapeCost.nodejs, ', `--collector.nodejs`', [
      COST_ROWS[0]!.label,
      '… nodejs (ms)',
    ]),
  ];
}

const ROWS: readonly Row[] = [
  { label: '`conntrack -L -p tcp > /dev/null` (ms)', value: (r) => r.listMs, digits: 1 },
  { label: 'Scrape, dump mode (ms)', value: (r) => r.dump.scrapeMs, digits: 1 },
  {
    label: 'Dump mode ÷ `conntrack -L`',
    value: (r) => ratio(r.dump.scrapeMs, r.listMs),
    digits: 2,
    target: '≤ 1.00 at 100k',
  },
  {
    label: 'Scrape, events mode (ms)',
    value: (r) => r.events.scrapeMs,
    digits: 2,
    target: '< 5 at 100k and 1M',
    original: '3',
  },
  {
    label: 'Events mode ÷ `conntrack -L`',
    value: (r) => ratio(r.events.scrapeMs, r.listMs),
    digits: 3,
  },
  ...scrapeCostRows(),
  {
    label: 'Scrape with a re-read of the table, events mode (ms)',
    value: (r) => r.resyncScrapeMs,
    digits: 1,
  },
  {
    label: '… its CPU (s)',
    value: (r) => r.resyncCpuSeconds,
    digits: 2,
  },
  {
    // Such a scrape used to re-read the table, as in the two rows above.
    label:
      'Scrape while 1,000 entries older than the exporter send no events (`nf_conntrack_events=2`): looked up, ms',
    value: (r) => r.silentScrapeMs,
    digits: 1,
  },
  {
    label: '… its CPU (s)',
    value: (r) => r.silentCpuSeconds,
    digits: 2,
  },
  {
    label: 'Every entry predates the exporter (`nf_conntrack_events=2`): scrape, events mode (ms)',
    value: (r) => r.old.scrapeMs,
    digits: 2,
    target: '< 5 at 100k and 1M',
  },
  {
    label: '… CPU per minute with 15 s scrapes, each entry checked every 60 s (s)',
    value: (r) => r.old.cpuPerMinute,
    digits: 3,
  },
  {
    label:
      '… of which the background checks (minus the same with `--silent-check-interval 1h`) (s)',
    value: (r) => r.old.checksCpuPerMinute,
    digits: 3,
    target: '≤ 0.5 at 100k',
  },
  {
    label: '… RSS with every entry in the list of silent entries (MB)',
    value: (r) => r.old.rssMB,
    digits: 1,
  },
  {
    label: '… an ended old entry leaves the gauges after (s; told by)',
    value: (r) => `${cell(r.old.endedDelayS, 2)} (${r.old.endedVia})`,
    digits: 2,
    target: '≤ 60',
  },
  {
    label: 'CPU per entry, read of the whole table (µs)',
    value: (r) => r.old.dumpMicrosPerEntry,
    digits: 2,
  },
  {
    label: 'CPU per entry, lookup (whole entries) in slices of a sixtieth of the table (µs)',
    value: (r) => r.old.lookupMicrosPerEntry,
    digits: 2,
  },
  {
    label: 'CPU per entry, check (state or end, what the exporter uses) in such slices (µs)',
    value: (r) => r.old.checkMicrosPerEntry,
    digits: 2,
  },
  ...burstRows('Burst of 100k inserts', (r) => r.inserts, {
    cpu: '< 1',
    cpuOriginal: '244',
    lost: '0',
    // It kept 166 of the 100k new entries.
    lostOriginal: '99,834',
  }),
  ...burstRows('Burst of 100k deletes', (r) => r.deletes, {}),
  ...burstRows(
    `Burst of 100k inserts, \`--netlink-buffer-size ${LARGE_BUFFER}\``,
    (r) => r.largeBuffer.inserts,
    {},
  ),
  ...burstRows(
    `Burst of 100k deletes, \`--netlink-buffer-size ${LARGE_BUFFER}\``,
    (r) => r.largeBuffer.deletes,
    {},
  ),
  ...burstRows(`${QUEUED} inserts`, (r) => r.queued.inserts, { rate: '≥ 200,000' }),
  ...burstRows(`${QUEUED} deletes`, (r) => r.queued.deletes, {}),
  {
    label: 'Live table = `conntrack -C` after every burst',
    value: (r) => yesNo(bursts(r).every((b) => b.consistent)),
    digits: 0,
    target: 'yes',
  },
  ...modeRows('dump', (r) => r.dump, {}),
  ...modeRows('events', (r) => r.events, {
    rss: '< 100 at 100k, < 300 at 1M',
    rssOriginal: '50',
    growth: '≈ 0',
  }),
  {
    label: `… with a re-read every ${RESYNC_INTERVAL_S} s (the default) spread in (s)`,
    value: idleWithResync,
    digits: 3,
    target: '< 0.3 at 100k',
    original: '6.5',
  },
  { label: 'Filling the table: entries/s', value: (r) => r.fillPerSecond, digits: 0 },
];

export function sizeLabel(entries: number): string {
  if (entries >= 1_000_000 && entries % 1_000_000 === 0) return `${entries / 1_000_000}M`;
  if (entries >= 1000 && entries % 1000 === 0) return `${entries / 1000}k`;
  return String(entries);
}

function cell(value: number | string | undefined, digits: number): string {
  if (value === undefined || (typeof value === 'number' && !Number.isFinite(value))) return '';
  if (typeof value === 'string') return value;
  return value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

export function table(results: readonly SizeResult[]): string {
  const header = ['', ...results.map((r) => sizeLabel(r.entries)), 'target', 'original C++ (100k)'];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const row of ROWS) {
    const cells = results.map((r) => cell(row.value(r), row.digits));
    lines.push(`| ${[row.label, ...cells, row.target ?? '', row.original ?? ''].join(' | ')} |`);
  }
  return lines.join('\n');
}

/**
 * One line per target: met, or missed and by how much. A target at a size
 * that was not run says so.
 */
export function verdicts(results: readonly SizeResult[]): string {
  const at = (entries: number): SizeResult | undefined =>
    results.find((r) => r.entries === entries);
  const lines: string[] = [];
  const judge = (
    what: string,
    value: number | undefined,
    limit: number,
    unit: string,
    atMost: boolean,
    note = '',
  ) => {
    if (value === undefined) {
      lines.push(`- ${what}: not measured in this run`);
      return;
    }
    const met = atMost ? value <= limit : value >= limit;
    const by = atMost ? value / limit : limit / value;
    const text = `${cell(value, value < 10 ? 2 : 0)}${unit}${note}`;
    lines.push(`- ${what}: ${text} — ${met ? 'met' : `**missed** (${by.toFixed(1)}x the target)`}`);
  };
  const k100 = at(100_000);
  const m1 = at(1_000_000);
  judge(
    'Dump mode at 100k, scrape ÷ `conntrack -L` ≤ 1.0',
    k100 && ratio(k100.dump.scrapeMs, k100.listMs),
    1,
    'x',
    true,
  );
  judge('Events mode at 100k, scrape < 5 ms', k100?.events.scrapeMs, 5, ' ms', true);
  judge('Events mode at 1M, scrape < 5 ms', m1?.events.scrapeMs, 5, ' ms', true);
  const cost = k100?.scrapeCost.plain;
  judge(
    'Events mode at 100k, CPU per scrape (new connection each) ≤ 2 ms',
    cost?.cpuMs,
    2,
    ' ms',
    true,
    cost &&
      ` (a request rendering nothing costs ${cell(cost.floorCpuMs, 2)} ms, Node's own HTTP ` +
        `server ${cell(cost.nodeFloorCpuMs, 2)} ms, and sending a copy of the same body from ` +
        `memory ${cell(cost.bodyFloorCpuMs, 2)} ms; kept alive ` +
        `${cell(cost.keptAliveCpuMs, 2)} ms, with gzip ${cell(cost.gzipCpuMs, 2)} ms)`,
  );
  // What a Prometheus server's scrape costs: it keeps its connection and asks for gzip.
  judge(
    'Events mode at 100k, CPU per scrape as Prometheus makes it (kept alive, gzip) ≤ 2 ms',
    cost?.gzipCpuMs,
    2,
    ' ms',
    true,
    cost &&
      ` (one scrape every few seconds instead of one after the other: ` +
        `${cell(cost.spacedGzipCpuMs, 2)} ms; Node's own HTTP server gzipping and sending a copy ` +
        `of the same body from memory: ${cell(cost.bodyGzipFloorCpuMs, 2)} ms)`,
  );
  judge(
    'Every entry older than the exporter, at 100k, scrape < 5 ms',
    k100?.old.scrapeMs,
    5,
    ' ms',
    true,
  );
  judge(
    'Every entry older than the exporter, at 1M, scrape < 5 ms',
    m1?.old.scrapeMs,
    5,
    ' ms',
    true,
  );
  judge(
    'Every entry older than the exporter, at 100k, their checks ≤ 0.5 CPU-s per minute',
    k100?.old.checksCpuPerMinute,
    0.5,
    ' s',
    true,
  );
  const large = k100?.largeBuffer.inserts;
  judge(
    'Burst of 100k inserts at 100k, < 1 CPU-second',
    k100?.inserts.cpuSeconds,
    1,
    ' s',
    true,
    large && ` (${cell(large.cpuSeconds, 2)} s with a ${LARGE_BUFFER} buffer)`,
  );
  // Judged on the queued burst: as they come, events are absorbed no
  // faster than the kernel makes them, which on a small machine sharing
  // its cores with the helper is about the target itself.
  const live = k100?.inserts;
  judge(
    'Burst of 100k inserts at 100k, ≥ 200,000 events/s (queued while the exporter was stopped)',
    k100 && k100.queued.inserts.events / k100.queued.inserts.seconds,
    200_000,
    '/s',
    false,
    live &&
      `; as they came: ${cell(live.events / live.seconds, 0)}/s, the kernel making them at ` +
        `${cell(live.producedPerSecond, 0)}/s`,
  );
  const lost = (pick: (r: SizeResult) => Burst[]): number =>
    results.flatMap(pick).reduce((sum, b) => sum + b.lost, 0);
  const withDefault = lost((r) => [r.inserts, r.deletes]);
  const withLarge = lost((r) => [
    r.largeBuffer.inserts,
    r.largeBuffer.deletes,
    r.queued.inserts,
    r.queued.deletes,
  ]);
  const consistent = results.every((r) => bursts(r).every((b) => b.consistent));
  lines.push(
    `- Nothing lost in the bursts, live table = \`conntrack -C\` afterwards: ${withDefault} events ` +
      `lost with the default buffer, ${withLarge} with ${LARGE_BUFFER}; live table ` +
      `${consistent ? 'equal' : '**not equal**'} after every burst — ` +
      `${withDefault === 0 && consistent ? 'met' : '**missed**'}`,
  );
  judge('RSS at 100k entries, events mode, < 100 MB', k100?.events.rssScrapedMB, 100, ' MB', true);
  judge('RSS at 1M entries, events mode, < 300 MB', m1?.events.rssScrapedMB, 300, ' MB', true);
  const growth = results.map((r) => r.events.rssGrowthMB);
  // Garbage collection alone moves RSS by a tenth or so between two samples.
  const grew = growth.filter(
    (g, i) => g > Math.max(5, 0.1 * (results[i]?.events.rssScrapedMB ?? 0)),
  );
  lines.push(
    `- No RSS growth over repeated scrapes (events mode, second half's median RSS minus the ` +
      `first half's, within 5 MB or 10%): ` +
      `${growth.map((g) => cell(g, 1)).join(', ')} MB — ${grew.length === 0 ? 'met' : '**missed**'}`,
  );
  judge(
    'Idle CPU at 100k, 15 s scrapes, events mode with its default re-read, < 0.3 s per minute',
    k100 && idleWithResync(k100),
    0.3,
    ' s',
    true,
  );
  return lines.join('\n');
}

/** Replaces (or adds, after the title) one "## <heading>" section of a Markdown file. */
export function writeSection(file: string, heading: string, body: string): void {
  const section = `## ${heading}\n\n${body.trim()}\n`;
  if (!existsSync(file)) {
    writeFileSync(file, `# Benchmarks\n\n${section}`);
    return;
  }
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.trim() === `## ${heading}`);
  if (start < 0) {
    const next = lines.findIndex((line) => line.startsWith('## '));
    const at = next < 0 ? lines.length : next;
    const before = lines.slice(0, at).join('\n').trimEnd();
    const after = lines.slice(at).join('\n');
    writeFileSync(file, `${before}\n\n${section}${after === '' ? '' : `\n${after}`}`);
    return;
  }
  const end = lines.findIndex((line, i) => i > start && line.startsWith('## '));
  const before = lines.slice(0, start).join('\n');
  const after = end < 0 ? '' : `\n${lines.slice(end).join('\n')}`;
  writeFileSync(file, `${before}\n${section}${after}`);
}
