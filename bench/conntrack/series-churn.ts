/**
 * How often the connection gauges' series appear and disappear between
 * scrapes, as served (a group with connections has all four phases, zeros
 * included) and as they would be with the zeros left out, on the same
 * scrapes. Real connections in a throwaway namespace: clients to ten
 * loopback addresses (ten remote hosts), each at its own rate, from one
 * connection every 4 s to 20 a second, half ending with FIN (TIME_WAIT)
 * and half with RST (CLOSE) (bench/soak/churn.ts). A scrape every second,
 * from when every host has its series.
 *
 *   node --import tsx bench/conntrack/series-churn.ts [seconds]
 */
import path from 'node:path';

import { parseExposition, startExporter } from '../../test/helpers/exporter';
import { createNamespace } from '../../test/helpers/netns';

const SECONDS = Number(process.argv[2] ?? 120);
const CHURN = path.join(__dirname, '..', 'soak', 'churn.ts');
const RATES = [0.25, 0.5, 1, 1, 2, 2, 5, 5, 10, 20];
const GAUGE = /^conntrack_(opening|open|closing|closed)_connections\{/;

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Churn {
  /** Series in the last scrape. */
  series: number;
  /** Series that were not in the scrape before, summed over scrapes. */
  appeared: number;
  /** Series of the scrape before that are gone, summed over scrapes. */
  disappeared: number;
}

function churnOf(scrapes: readonly Set<string>[]): Churn {
  let appeared = 0;
  let disappeared = 0;
  for (let i = 1; i < scrapes.length; i++) {
    const [before, after] = [scrapes[i - 1]!, scrapes[i]!];
    for (const key of after) if (!before.has(key)) appeared++;
    for (const key of before) if (!after.has(key)) disappeared++;
  }
  return { series: scrapes.at(-1)?.size ?? 0, appeared, disappeared };
}

async function main(): Promise<void> {
  const ns = await createNamespace();
  try {
    const exporter = await startExporter(ns, ['--no-resolve-hosts']);
    const clients = RATES.map((rate, i) =>
      ns.spawn([process.execPath, '--import', 'tsx', CHURN, String(rate), '0', `127.0.0.${i + 2}`]),
    );
    // Counted once every host has its series (its clients started, connections made).
    const deadline = Date.now() + 120_000;
    for (;;) {
      const gauges = [...parseExposition(await exporter.scrape()).keys()].filter((key) =>
        GAUGE.test(key),
      );
      if (gauges.length >= 4 * RATES.length) break;
      if (Date.now() > deadline) throw new Error(`only ${gauges.length} series after 2 minutes`);
      await pause(1000);
    }
    const withZeros: Set<string>[] = [];
    const withoutZeros: Set<string>[] = [];
    const started = Date.now();
    for (let second = 1; second <= SECONDS; second++) {
      const gauges = [...parseExposition(await exporter.scrape())].filter(([key]) =>
        GAUGE.test(key),
      );
      withZeros.push(new Set(gauges.map(([key]) => key)));
      withoutZeros.push(new Set(gauges.filter(([, value]) => value !== 0).map(([key]) => key)));
      await pause(started + second * 1000 - Date.now());
    }
    for (const client of clients) client.stdin?.end();
    await exporter.stop();
    const report = (what: string, churn: Churn) =>
      process.stdout.write(
        `${what}: ${churn.series} series at the end; over ${SECONDS - 1} scrape intervals ` +
          `${churn.appeared} appeared, ${churn.disappeared} disappeared ` +
          `(${((churn.appeared + churn.disappeared) / (SECONDS - 1)).toFixed(2)} a scrape)\n`,
      );
    report('zeros kept (as served)', churnOf(withZeros));
    report('zeros left out', churnOf(withoutZeros));
  } finally {
    await ns.destroy();
  }
}

void main();
