/**
 * Soak benchmark (`make soak`, not part of `make test`): the built exporter
 * in a throwaway namespace, SOAK_RATE connections a second opened and closed
 * there (bench/soak/churn.ts) for SOAK_SECONDS, a scrape every second.
 * Every 10 s it samples the exporter's RSS and open file descriptors.
 *
 * Passes when every scrape succeeded and, once the table is in its steady
 * state (conntrack forgets a closed connection after 120 s, so the table
 * stops growing after that), RSS and descriptors stay flat: the last
 * minute's RSS within 20% + 16 MiB of the first steady minute's, and the
 * descriptor count within 16 of it.
 *
 *   SOAK_SECONDS=600 SOAK_RATE=300 SOAK_ARGS="--mode dump" node --import tsx bench/soak/run.ts
 *
 * SOAK_ARGS are the exporter's options (default: --resync-interval=60).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { parseExposition, startExporter } from '../../test/helpers/exporter';
import { createNamespace } from '../../test/helpers/netns';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const RATE = Number(process.env.SOAK_RATE ?? 300);
// A re-read of the whole table every minute (events mode, the default):
// its memory high-water mark is then reached before the steady window
// starts, and re-reads under churn are soaked too.
const ARGS = (process.env.SOAK_ARGS ?? '--resync-interval=60')
  .split(' ')
  .filter((arg) => arg !== '');
const SAMPLE_EVERY_S = 10;
// Closed entries (TIME_WAIT, CLOSE) stay 120 s in the test namespaces.
const STEADY_AFTER_S = Math.min(180, SECONDS / 2);
const CHURN = path.join(__dirname, 'churn.ts');
const SUCCESS = 'conntrack_exporter_scrape_collector_success{collector="conntrack"}';

interface Sample {
  second: number;
  rssMiB: number;
  fds: number;
  entries: number;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function rssMiB(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;

async function main(): Promise<number> {
  const ns = await createNamespace();
  try {
    const exporter = await startExporter(ns, ['--no-resolve-hosts', ...ARGS]);
    const pid = exporter.process.pid!;
    const churn = ns.spawn([process.execPath, '--import', 'tsx', CHURN, String(RATE), '0']);
    const samples: Sample[] = [];
    let scrapes = 0;
    let failures = 0;
    const started = Date.now();
    process.stdout.write(`soak: ${SECONDS} s, ${RATE} connections/s, exporter ${ARGS.join(' ')}\n`);
    process.stdout.write('second  rss_MiB  fds  table_entries\n');
    for (let second = 1; second <= SECONDS; second++) {
      const due = started + second * 1000;
      let entries = NaN;
      try {
        const metrics = parseExposition(await exporter.scrape());
        entries = metrics.get('conntrack_table_entries') ?? NaN;
        if (metrics.get(SUCCESS) !== 1) failures++;
      } catch {
        failures++;
      }
      scrapes++;
      if (second % SAMPLE_EVERY_S === 0) {
        const sample = {
          second,
          rssMiB: rssMiB(pid),
          fds: readdirSync(`/proc/${pid}/fd`).length,
          entries,
        };
        samples.push(sample);
        process.stdout.write(
          `${String(second).padStart(6)}  ${sample.rssMiB.toFixed(1).padStart(7)}  ${String(sample.fds).padStart(3)}  ${entries}\n`,
        );
      }
      await pause(Math.max(0, due - Date.now()));
    }
    churn.stdin?.end();
    const stopCode = await exporter.stop();

    const steady = samples.filter((s) => s.second > STEADY_AFTER_S);
    const first = steady.filter((s) => s.second <= STEADY_AFTER_S + 60);
    const last = steady.filter((s) => s.second > SECONDS - 60);
    const rssFirst = mean(first.map((s) => s.rssMiB));
    const rssLast = mean(last.map((s) => s.rssMiB));
    const fdsFirst = Math.max(...first.map((s) => s.fds));
    const fdsLast = Math.max(...last.map((s) => s.fds));
    const problems = [
      failures > 0 && `${failures} of ${scrapes} scrapes failed`,
      rssLast > rssFirst * 1.2 + 16 &&
        `RSS grew from ${rssFirst.toFixed(1)} to ${rssLast.toFixed(1)} MiB`,
      fdsLast > fdsFirst + 16 && `open descriptors grew from ${fdsFirst} to ${fdsLast}`,
      stopCode !== 0 && `the exporter exited with ${String(stopCode)} on SIGTERM`,
    ].filter((problem): problem is string => typeof problem === 'string');
    const errors = exporter
      .stderr()
      .split('\n')
      .filter((line) => /error|warning/.test(line));
    process.stdout.write(
      `soak: ${scrapes} scrapes, ${failures} failed; steady RSS ${rssFirst.toFixed(1)} -> ` +
        `${rssLast.toFixed(1)} MiB, fds ${fdsFirst} -> ${fdsLast}; ${errors.length} warning/error lines` +
        `${errors.length > 0 ? `, e.g. ${errors.slice(0, 3).join(' | ')}` : ''}\n`,
    );
    process.stdout.write(
      problems.length === 0 ? 'soak: passed\n' : `soak: FAILED: ${problems.join('; ')}\n`,
    );
    return problems.length === 0 ? 0 : 1;
  } finally {
    await ns.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`soak: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
