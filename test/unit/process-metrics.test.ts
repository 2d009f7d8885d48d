import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readdirSync } from 'node:fs';
import path from 'node:path';
import fs from 'node:fs';
import test, { mock } from 'node:test';
import { Registry } from 'prom-client';

import { registerNodejsMetrics } from '../../src/collectors/nodejs';
import { registerProcessMetrics } from '../../src/collectors/process';
import { registerLegacyProxyMetrics } from '../../src/proxy/legacy-metrics';
import { registerProxyMetrics } from '../../src/proxy/metrics';
import { ProxyTraffic } from '../../src/proxy/traffic';
import { parseMetrics } from '../helpers/proxy-net';

/** The process_* families of Prometheus' client libraries on Linux. */
const PROCESS_FAMILIES = [
  'process_cpu_user_seconds_total',
  'process_cpu_system_seconds_total',
  'process_cpu_seconds_total',
  'process_start_time_seconds',
  'process_resident_memory_bytes',
  'process_virtual_memory_bytes',
  'process_virtual_memory_max_bytes',
  'process_heap_bytes',
  'process_open_fds',
  'process_max_fds',
];

async function scrape(register: (registry: Registry) => void): Promise<Map<string, number>> {
  const registry = new Registry();
  register(registry);
  return parseMetrics(await registry.metrics());
}

test('process_*: every family, with plausible values for this process', async () => {
  const before = process.cpuUsage();
  const series = await scrape(registerProcessMetrics);
  assert.deepEqual([...series.keys()].sort(), [...PROCESS_FAMILIES].sort());
  const value = (name: string) => series.get(name) ?? NaN;

  const cpu = value('process_cpu_seconds_total');
  assert.ok(cpu >= (before.user + before.system) / 1e6, `cpu ${cpu}`);
  assert.ok(
    Math.abs(
      cpu - value('process_cpu_user_seconds_total') - value('process_cpu_system_seconds_total'),
    ) < 0.01,
  );
  const started = Date.now() / 1000 - process.uptime();
  assert.ok(Math.abs(value('process_start_time_seconds') - started) < 0.1);

  const rss = value('process_resident_memory_bytes');
  assert.ok(rss > 10 * 1024 * 1024 && rss < value('process_virtual_memory_bytes'));
  assert.ok(value('process_heap_bytes') > 0);

  const fds = readdirSync('/proc/self/fd').length;
  assert.ok(
    Math.abs(value('process_open_fds') - fds) <= 2,
    `open fds ${value('process_open_fds')}`,
  );
  // A child inherits the limits: the shell's ulimit reads the same ones.
  const ulimit = (flag: string) =>
    spawnSync('sh', ['-c', `ulimit -S ${flag}`], { encoding: 'utf8' }).stdout.trim();
  assert.equal(value('process_max_fds'), Number(ulimit('-n')));
  const addressSpace = ulimit('-v');
  assert.equal(
    value('process_virtual_memory_max_bytes'),
    addressSpace === 'unlimited' ? 2 ** 64 - 1 : Number(addressSpace) * 1024,
  );
});

test('process_open_fds: exactly the descriptors opened since the last scrape', async (t) => {
  const registry = new Registry();
  registerProcessMetrics(registry);
  const openFds = async () => parseMetrics(await registry.metrics()).get('process_open_fds') ?? NaN;
  const before = await openFds();
  const opened = Array.from({ length: 50 }, () => openSync('/dev/null', 'r'));
  t.after(() => opened.forEach((fd) => closeSync(fd)));
  assert.equal(await openFds(), before + 50);
  opened.splice(0, 20).forEach((fd) => closeSync(fd));
  assert.equal(await openFds(), before + 30);
});

test('process_*: one reading of /proc and the CPU usage per scrape, a new one at the next', async () => {
  const registry = new Registry();
  registerProcessMetrics(registry);
  const opens = mock.method(fs, 'openSync');
  const reads = mock.method(fs, 'readSync');
  const cpu = mock.method(process, 'cpuUsage');
  try {
    const opened = (file: string) =>
      opens.mock.calls.filter((call) => call.arguments[0] === file).length;
    const rss = (text: string) => Number(/^process_resident_memory_bytes (\d+)$/m.exec(text)?.[1]);
    const first = await registry.metrics();
    assert.equal(opened('/proc/self/status'), 1);
    assert.equal(opened('/proc/self/limits'), 1);
    assert.equal(reads.mock.callCount(), 2);
    assert.equal(cpu.mock.callCount(), 1);
    // 128 MiB written, so resident: the next reading must show it.
    const held = Buffer.alloc(128 * 1024 * 1024, 1);
    const second = await registry.metrics();
    // The same descriptors, read again from the start.
    assert.equal(opened('/proc/self/status'), 1);
    assert.equal(opened('/proc/self/limits'), 1);
    assert.equal(reads.mock.callCount(), 4);
    assert.equal(cpu.mock.callCount(), 2);
    assert.ok(rss(second) - rss(first) >= 96 * 1024 * 1024, `${rss(first)} -> ${rss(second)}`);
    assert.equal(held[held.length - 1], 1);
  } finally {
    opens.mock.restore();
    reads.mock.restore();
    cpu.mock.restore();
  }
});

test('the proxy serves the whole process_* set, in both metric layouts', async () => {
  for (const register of [
    (registry: Registry) => registerProxyMetrics(registry, new ProxyTraffic(), 'p'),
    (registry: Registry) => registerLegacyProxyMetrics(registry, new ProxyTraffic(), 'p'),
  ]) {
    const names = new Set([...(await scrape(register)).keys()]);
    for (const family of PROCESS_FAMILIES) assert.ok(names.has(family), family);
  }
});

test('nodejs_*: the runtime families, and no second copy of process_*', async () => {
  const names = [...(await scrape(registerNodejsMetrics)).keys()].map((key) => key.split('{')[0]);
  for (const family of [
    'nodejs_eventloop_lag_seconds',
    'nodejs_heap_size_used_bytes',
    'nodejs_active_handles',
    'nodejs_version_info',
  ]) {
    assert.ok(names.includes(family), family);
  }
  assert.deepEqual(
    names.filter((name) => !name?.startsWith('nodejs_')),
    [],
  );
  // Gauges with a counter's suffix: promtool refuses them.
  assert.deepEqual(
    names.filter((name) => name?.endsWith('_total')),
    [],
  );
});

test("the proxy's metrics, process_* included, do not load prom-client's package entry", () => {
  const root = path.join(__dirname, '..', '..');
  const script = `
    require('./src/proxy/metrics'); require('./src/proxy/legacy-metrics');
    const entry = require.resolve('prom-client');
    process.stdout.write(String(entry in require.cache));`;
  const result = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(result.stdout, 'false', result.stderr);
});
