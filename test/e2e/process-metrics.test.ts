/**
 * The standard process_* metrics on every command's endpoint, describing
 * the exporter's own process; nodejs_* on the main exporter when switched on.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';

import { startExporter } from '../helpers/exporter';
import { createNamespace } from '../helpers/netns';

const DROP_IN = path.join(__dirname, '..', '..', 'dist', 'bin', 'tcp-established-exporter.js');

const PROCESS_FAMILIES = [
  'process_cpu_seconds_total',
  'process_cpu_user_seconds_total',
  'process_cpu_system_seconds_total',
  'process_start_time_seconds',
  'process_resident_memory_bytes',
  'process_virtual_memory_bytes',
  'process_virtual_memory_max_bytes',
  'process_heap_bytes',
  'process_open_fds',
  'process_max_fds',
];

for (const [command, args, options, nodejs] of [
  ['conntrack-exporter', [], {}, false],
  ['conntrack-exporter --collector.nodejs', ['--collector.nodejs'], {}, true],
  ['tcp_established_exporter', [], { program: DROP_IN, port: 9690, listenArgs: [] }, false],
] as const) {
  test(`${command}: process_* of its own process${nodejs ? ', and nodejs_*' : ''}`, async (t) => {
    const ns = await createNamespace(t);
    const exporter = await startExporter(ns, args, options);
    const pid = exporter.process.pid ?? 0;
    const series = await exporter.metrics();
    const value = (name: string) => series.get(name) ?? NaN;
    for (const family of PROCESS_FAMILIES) assert.ok(series.has(family), family);

    const started = (Date.now() - 60_000) / 1000;
    assert.ok(value('process_start_time_seconds') >= started - 1);
    assert.ok(value('process_start_time_seconds') <= Date.now() / 1000);
    assert.ok(value('process_cpu_seconds_total') > 0);
    assert.ok(value('process_resident_memory_bytes') > 10 * 1024 * 1024);
    // The exporter's own descriptors: the same order as /proc shows them.
    const fds = readdirSync(`/proc/${pid}/fd`).length;
    assert.ok(
      Math.abs(value('process_open_fds') - fds) <= 4,
      `${value('process_open_fds')} vs ${fds}`,
    );
    assert.ok(value('process_max_fds') >= fds);

    const runtime = [...series.keys()].filter((key) => key.startsWith('nodejs_'));
    if (nodejs) {
      assert.ok(series.has('nodejs_eventloop_lag_seconds'));
      assert.ok(value('nodejs_heap_size_used_bytes') > 0);
    } else {
      assert.deepEqual(runtime, []);
    }
    assert.equal(await exporter.stop(), 0);
  });
}
