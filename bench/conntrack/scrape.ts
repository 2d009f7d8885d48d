/**
 * The scrape path alone, in process and without the kernel: synthetic
 * aggregated groups (as the live table hands them out) through the series,
 * the collectors and the rendering, timed per scrape. For iterating on
 * rendering cost in seconds; `make bench` is the measurement that counts.
 *
 *   node --import tsx bench/conntrack/scrape.ts [hosts] [ports-per-host] [scrapes]
 *   node --cpu-prof --import tsx bench/conntrack/scrape.ts   (a profile too)
 *   SCRAPE_HTTP=1 ...   through the metrics server, timed by curl as make bench does
 *   CONNTRACK_SCRAPE_TIMING=1 ...   each part's time per scrape too
 *   SCRAPE_NODEJS=1 ...   with the nodejs_* collector (off by default, as in the exporter)
 *   LINK_HEALTH=1 ...   with --collector.link-health's families, every group
 *                       with failures, connect times and lifetimes (the most
 *                       they can add)
 *
 * Defaults mirror `make bench`: 1,000 hosts, one in four IPv6, every one
 * with its own series (--max-hosts 1000, no DNS).
 */
import { execFile } from 'node:child_process';
import { AddressInfo } from 'node:net';

import { Registry } from 'prom-client';

import { connectionGauges } from '../../src/collectors/connections';
import { registerEventMetrics } from '../../src/collectors/events';
import { registerHostMetrics } from '../../src/collectors/hosts';
import { Exposition } from '../../src/collectors/exposition';
import { lifecycleCounters } from '../../src/collectors/lifecycle';
import { linkHealthCollector } from '../../src/collectors/link-health';
import { registerSelfMetrics } from '../../src/collectors/self';
import { registerProcessMetrics } from '../../src/collectors/process';
import { registerNodejsMetrics } from '../../src/collectors/nodejs';
import { SCRAPE_PARTS, scrapeTiming } from '../../src/collectors/scrape-timing';
import { ScrapeSource } from '../../src/collectors/scrape';
import { createMetricsServer, listen } from '../../src/http/server';
import { HostGroup } from '../../src/model/group';
import { Direction } from '../../src/model/flow';
import { HostFilter } from '../../src/model/host-filter';
import { LinkHealth } from '../../src/model/link-health';
import { LIFECYCLE_KINDS } from '../../src/model/live-table';
import { PerHostCounters } from '../../src/model/per-host-counters';
import { checkMetricLayout } from '../../src/options/metric-layout';

const [hosts = 1000, portsPerHost = 1, scrapes = 200] = process.argv
  .slice(2)
  .map((arg) => Number(arg));
// LAYOUT=v0.3 or v0.1 measures the other layouts (LEGACY=1: v0.1, as before).
const layout = checkMetricLayout(
  process.env.LAYOUT ?? (process.env.LEGACY === '1' ? 'v0.1' : 'native'),
  'LAYOUT',
);
const linkHealth =
  process.env.LINK_HEALTH === '1'
    ? new LinkHealth({ classification: () => ({ localAddresses: new Set() }) })
    : undefined;

function syntheticGroups(): Map<string, HostGroup> {
  const groups = new Map<string, HostGroup>();
  for (let h = 0; h < hosts; h++) {
    const host =
      h % 4 === 3 ? `2001:db8::${(h + 1).toString(16)}` : `198.18.${(h + 1) >> 8}.${(h + 1) & 255}`;
    const direction: Direction = h % 3 === 2 ? 'outbound' : 'inbound';
    for (let p = 0; p < portsPerHost; p++) {
      const port = [443, 80, 22, 5432, 6379, 8080][(h + p) % 6]! + 10_000 * Math.floor(p / 6);
      const n = (h * 7 + p * 13) % 1000;
      groups.set(`${direction}|${host}|${port}`, {
        host,
        port,
        direction,
        counts: { opening: n % 3, open: n, closing: n % 17, closed: n % 5 },
      });
    }
  }
  return groups;
}

const groups = syntheticGroups();
// Every group opens and closes connections between two scrapes, as on a busy
// server: counted before each timed scrape, as events are between scrapes.
const lifecycle = new PerHostCounters(LIFECYCLE_KINDS);
let round = 0;
const countRound = () => {
  round++;
  for (const group of groups.values()) {
    lifecycle.add(group, 'opened', 3 * round);
    lifecycle.add(group, 'closed', 2 * round);
    if (linkHealth === undefined) continue;
    linkHealth.failures.add(group, 'reset');
    linkHealth.lifetimes.add(group, 'sum', 12.5);
    linkHealth.lifetimes.add(group, 'count');
    linkHealth.connectTimes.add(group, [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0.002);
    linkHealth.lifetimesByPort.add(group, [0, 0, 1, 0, 0, 0, 0, 0], 12.5);
  }
};

// As in src/exporter.ts, events mode; the live table's snapshot() copies its groups.
const source = new ScrapeSource(
  {
    read: () =>
      Promise.resolve({
        groups: [...groups.values()].map((g) => ({ ...g, counts: { ...g.counts } })),
        table: { entries: 100_000, limit: 262_144 },
        counters: {
          lifecycle,
          ...(linkHealth && {
            failures: linkHealth.failures,
            lifetimes: linkHealth.lifetimes,
            connectTimes: linkHealth.connectTimes.counters,
            lifetimesByPort: linkHealth.lifetimesByPort.counters,
          }),
        },
        durationSeconds: 0.001,
      }),
  },
  { maxHosts: hosts, maxPortsPerHost: 10 },
  HostFilter.parse([]),
);
const registry = new Registry();
const exposition = new Exposition(registry);
exposition.add(connectionGauges(source, layout));
registerHostMetrics(registry, source, false);
registerSelfMetrics(registry, source, { version: 'bench', libnetfilterConntrack: 'x' }, true);
registerEventMetrics(registry, source, 'events');
exposition.add(lifecycleCounters(source));
if (linkHealth) exposition.add(linkHealthCollector(source, false));
registerProcessMetrics(registry);
if (process.env.SCRAPE_NODEJS === '1') registerNodejsMetrics(registry);
if (scrapeTiming !== undefined) scrapeTiming.instrument(registry);
// As the server does: the body's memory is written into again once sent.
const render = async (): Promise<Buffer> => {
  const body = await exposition.metrics();
  exposition.recycle(body);
  return body;
};

/** curl's time_total for one GET of the server in this process. */
function curl(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile(
      'curl',
      ['-sS', '--fail', '-o', '/dev/null', '-w', '%{time_total}', url],
      (error, stdout) => (error ? reject(error) : resolve(Number(stdout) * 1000)),
    );
  });
}

async function main(): Promise<void> {
  countRound();
  const body = (await render()).toString();
  let once = async (): Promise<number> => {
    countRound();
    const start = performance.now();
    await render();
    return performance.now() - start;
  };
  if (process.env.SCRAPE_HTTP === '1') {
    const server = createMetricsServer({ registry: exposition, path: '/metrics', title: 'bench' });
    await listen(server, 0, '127.0.0.1');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
    once = () => {
      countRound();
      return curl(url);
    };
  }
  const cold: number[] = [];
  for (let i = 0; i < 20; i++) cold.push(await once());
  if (process.env.SCRAPE_COLD === '1')
    console.log('first scrapes', cold.map((t) => t.toFixed(1)).join(' '));
  const times: number[] = [];
  const partsBefore = { ...scrapeTiming?.seconds };
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < scrapes; i++) times.push(await once());
  const cpu = process.cpuUsage(cpuBefore);
  const cpuMs = (cpu.user + cpu.system) / 1000 / scrapes;
  const parts =
    scrapeTiming &&
    SCRAPE_PARTS.map(
      (part) =>
        `${part} ${(((scrapeTiming!.seconds[part] - (partsBefore[part] ?? 0)) * 1000) / scrapes).toFixed(3)}`,
    ).join(', ');
  times.sort((a, b) => a - b);
  const at = (q: number): string => times[Math.floor(q * (times.length - 1))]!.toFixed(2);
  process.stdout.write(
    `${groups.size} groups, ${body.split('\n').length} lines, ${(body.length / 1024).toFixed(0)} KiB${layout === 'native' ? '' : ` (${layout})`}: ` +
      `${linkHealth ? 'link health on, ' : ''}${process.env.SCRAPE_HTTP === '1' ? 'curl' : 'render'} median ${at(0.5)} ms, p90 ${at(0.9)} ms, min ${at(0)} ms over ${scrapes}; CPU ${cpuMs.toFixed(2)} ms per scrape\n` +
      (parts === undefined ? '' : `parts (ms per scrape): ${parts}\n`),
  );
}

void main().then(() => process.exit(0));
