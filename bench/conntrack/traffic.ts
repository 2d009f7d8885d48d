/**
 * `make bench BENCH_ONLY=traffic`: what --collector.traffic's background
 * reads of the table cost in events mode. Two exporters on the same table
 * (accounting on), one with the traffic counters read every
 * TRAFFIC_INTERVAL_S and one without, idle and scraped every 15 s over the
 * same window: the difference of their CPU time is the reads', per read
 * and per minute at the default interval (120 s).
 *
 * The synthetic entries carry counters (made with accounting on) that never
 * move, so a read costs the reading and decoding of every entry and the
 * comparison with its last counts, not the classifying of the entries
 * that moved (which a scrape in dump mode does for every entry anyway).
 */
import { startExporter, type ExporterProcess } from '../../test/helpers/exporter';
import { waitFor } from '../../test/helpers/netns';
import { idleCpuPerMinute, rssMB } from './measure';
import { BenchTable } from './table';

const TRAFFIC_INTERVAL_S = 2;
const DEFAULT_INTERVAL_S = 120;
const SCRAPE_INTERVAL_MS = 15_000;

export interface TrafficCost {
  cpuPerRead: number;
  cpuPerMinuteAtDefault: number;
  rssWithMB: number;
  rssWithoutMB: number;
}

export async function measureTraffic(
  entries: number,
  hosts: number,
  commonArgs: readonly string[],
  idleSeconds: number,
  log: (line: string) => void,
): Promise<TrafficCost> {
  const bench = await BenchTable.create();
  const exporters: ExporterProcess[] = [];
  try {
    await bench.run(['sysctl', '-q', '-w', 'net.netfilter.nf_conntrack_acct=1']);
    await bench.change('create', entries, { offset: 0, hosts });
    const start = async (port: number, args: readonly string[]) => {
      const exporter = await startExporter(bench.ns, [...commonArgs, '--mode', 'events', ...args], {
        port,
        startTimeoutMs: 120_000,
      });
      exporters.push(exporter);
      return exporter;
    };
    const without = await start(9319, []);
    const withTraffic = await start(9320, [
      '--collector.traffic',
      '--traffic-interval',
      `${TRAFFIC_INTERVAL_S}s`,
    ]);
    // The families are there once accounting is on, zero as nothing moves.
    await waitFor(
      async () =>
        (await withTraffic.scrape()).includes('# TYPE conntrack_sent_bytes_total counter'),
      30_000,
      'the traffic families',
    );
    const [cpuWith = NaN, cpuWithout = NaN] = await idleCpuPerMinute(
      bench.ns,
      [
        { pid: withTraffic.process.pid!, url: `${withTraffic.url}/metrics`, offsetMs: 0 },
        {
          pid: without.process.pid!,
          url: `${without.url}/metrics`,
          offsetMs: SCRAPE_INTERVAL_MS / 2,
        },
      ],
      idleSeconds,
      SCRAPE_INTERVAL_MS,
    );
    const readsPerMinute = 60 / TRAFFIC_INTERVAL_S;
    const cpuPerRead = (cpuWith - cpuWithout) / readsPerMinute;
    const result = {
      cpuPerRead,
      cpuPerMinuteAtDefault: (cpuPerRead * 60) / DEFAULT_INTERVAL_S,
      rssWithMB: rssMB(withTraffic.process.pid!),
      rssWithoutMB: rssMB(without.process.pid!),
    };
    log(
      `  traffic: ${cpuWith.toFixed(2)} CPU-s/min with a read every ${TRAFFIC_INTERVAL_S} s, ` +
        `${cpuWithout.toFixed(2)} without: ${cpuPerRead.toFixed(3)} CPU-s per read, ` +
        `${result.cpuPerMinuteAtDefault.toFixed(3)} CPU-s per minute at the default ${DEFAULT_INTERVAL_S} s; ` +
        `RSS ${result.rssWithMB.toFixed(0)} MB with, ${result.rssWithoutMB.toFixed(0)} MB without`,
    );
    return result;
  } finally {
    for (const exporter of exporters) await exporter.stop();
    await bench.destroy();
  }
}
