/**
 * The kernel statistics families: written as prom-client writes counters,
 * one read shared by concurrent scrapes, and a failed read leaving the
 * samples out (not zeros), counted, and warned about once until it works.
 */
import assert from 'node:assert/strict';
import test from 'node:test';

import { Counter, Registry } from 'prom-client';

import { Exposition } from '../../src/collectors/exposition';
import { kernelStatName, kernelStatsCollector } from '../../src/collectors/kernel-stats';
import { KERNEL_STATS, KernelStats } from '../../src/conntrack/kernel-stats';
import { Logger } from '../../src/log';

const READ = { cpus: 2, totals: { found: 3, insert: 5, drop: 7, early_drop: 0 } };
const FAILURES = 'conntrack_exporter_kernel_stats_read_failures_total';

function recordingLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (message) => lines.push(`info: ${message}`),
    warn: (message) => lines.push(`warn: ${message}`),
    error: (message) => lines.push(`error: ${message}`),
    debug: () => undefined,
  };
}

function exposition(read: () => Promise<KernelStats>, log: Logger): Exposition {
  const result = new Exposition(new Registry());
  result.add(kernelStatsCollector(read, log));
  return result;
}

const samples = (text: string) => text.split('\n').filter((line) => /^[a-z]/.test(line));

test('a read is written exactly as prom-client writes the same counters', async () => {
  const registry = new Registry();
  const help = new Map<string, string>();
  const text = (await exposition(() => Promise.resolve(READ), recordingLog()).metrics()).toString();
  for (const [, name, line] of text.matchAll(/^# HELP (\S+) (.*)$/gm)) help.set(name!, line!);
  for (const stat of KERNEL_STATS) {
    const counter = new Counter({
      name: kernelStatName(stat),
      help: help.get(kernelStatName(stat)) ?? '',
      registers: [registry],
    });
    const value = READ.totals[stat as keyof typeof READ.totals];
    if (value === undefined) {
      // No sample: prom-client writes HELP and TYPE alone for an empty counter.
      (counter as unknown as { hashMap: object }).hashMap = {};
    } else {
      counter.inc(value);
    }
  }
  new Counter({ name: FAILURES, help: help.get(FAILURES) ?? '', registers: [registry] });
  assert.equal(text, await registry.metrics());
  assert.deepEqual(samples(text), [
    'conntrack_kernel_stat_found_total 3',
    'conntrack_kernel_stat_insert_total 5',
    'conntrack_kernel_stat_drop_total 7',
    'conntrack_kernel_stat_early_drop_total 0',
    `${FAILURES} 0`,
  ]);
});

test('concurrent scrapes share one read; a later scrape reads anew', async () => {
  let reads = 0;
  let release: () => void = () => undefined;
  const read = () => {
    reads++;
    return new Promise<KernelStats>((resolve) => (release = () => resolve(READ)));
  };
  const target = exposition(read, recordingLog());
  const both = Promise.all([target.metrics(), target.metrics()]);
  await new Promise((resolve) => setImmediate(resolve));
  release();
  const [first, second] = await both;
  assert.equal(reads, 1);
  assert.equal(first.toString(), second.toString());
  const third = target.metrics();
  await new Promise((resolve) => setImmediate(resolve));
  release();
  await third;
  assert.equal(reads, 2);
});

test('a failed read leaves the samples out, counts, and warns once until a read works', async () => {
  const log = recordingLog();
  let failing = true;
  const read = () =>
    failing
      ? Promise.reject(new Error('mnl_socket_open: Operation not permitted'))
      : Promise.resolve(READ);
  const target = exposition(read, log);

  const failed = (await target.metrics()).toString();
  assert.deepEqual(samples(failed), [`${FAILURES} 1`]);
  for (const stat of KERNEL_STATS) {
    assert.match(failed, new RegExp(`^# TYPE ${kernelStatName(stat)} counter$`, 'm'));
  }
  assert.deepEqual(samples((await target.metrics()).toString()), [`${FAILURES} 2`]);
  assert.deepEqual(log.lines, [
    "warn: cannot read the kernel's conntrack statistics: mnl_socket_open: Operation not permitted; the conntrack_kernel_stat_* samples are left out until a read works",
  ]);

  failing = false;
  const back = samples((await target.metrics()).toString());
  assert.ok(back.includes('conntrack_kernel_stat_drop_total 7'));
  assert.ok(back.includes(`${FAILURES} 2`));
  assert.deepEqual(log.lines.slice(1), ["info: the kernel's conntrack statistics are read again"]);

  failing = true;
  await target.metrics();
  assert.equal(log.lines.length, 3);
  assert.match(log.lines[2]!, /^warn: cannot read/);
});
