/**
 * deploy/sysctl/90-conntrack-exporter.conf as an operator applies it: under
 * net.netfilter.nf_conntrack_events=1, connections opened while no exporter
 * ran still send their events (under the default 2 they would not), and
 * under 2 the start-up note points at the deployment files that set 1.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import test from 'node:test';

import { establishedFlows, insertEntries } from '../helpers/conntrack-load';
import { untrackPort } from '../helpers/events';
import { seriesKey, startExporter, sumOf } from '../helpers/exporter';
import { createNamespace, waitFor } from '../helpers/netns';

const PORT = 9318;
const SYSCTL_FILE = path.join(
  __dirname,
  '..',
  '..',
  'deploy',
  'sysctl',
  '90-conntrack-exporter.conf',
);

const FLOWS = establishedFlows(3, 1);
const open = (metrics: Map<string, number>) => sumOf(metrics, /^conntrack_open_connections$/);

test('the shipped sysctl file: connections older than the exporter send their events', async (t) => {
  const ns = await createNamespace(t);
  await untrackPort(ns, PORT);
  const applied = await ns.exec(['sysctl', '-p', SYSCTL_FILE]);
  assert.equal(applied.code, 0, applied.stderr);
  const setting = await ns.exec(['cat', '/proc/sys/net/netfilter/nf_conntrack_events']);
  assert.equal(setting.stdout.trim(), '1');

  // Made while nothing listens to events.
  await insertEntries(ns, FLOWS);
  const exporter = await startExporter(ns, ['--mode', 'events', '--no-resolve-hosts']);
  t.after(() => exporter.stop());
  assert.doesNotMatch(exporter.stderr(), /nf_conntrack_events=2/);
  let metrics = await exporter.metrics();
  assert.equal(open(metrics), 3);
  assert.equal(metrics.get('conntrack_exporter_silent_entries'), 0);

  // The exporter relies on the kernel's event for the end: only under 1 does it come.
  const deleted = await ns.exec(['conntrack', '-D', '-p', 'tcp', '--orig-src', '10.1.0.1']);
  assert.equal(deleted.code, 0, deleted.stderr);
  metrics = await waitFor(
    async () => {
      const now = await exporter.metrics();
      return open(now) === 2 ? now : undefined;
    },
    30_000,
    'the ended connection to leave the gauges',
  );
  assert.equal(
    metrics.get(seriesKey('conntrack_exporter_resyncs_total', { reason: 'silent_entries' })) ?? 0,
    0,
  );
});

test('under the default 2, the start-up note names the files that set 1', async (t) => {
  const ns = await createNamespace(t);
  await untrackPort(ns, PORT);
  const setting = await ns.exec(['cat', '/proc/sys/net/netfilter/nf_conntrack_events']);
  assert.equal(setting.stdout.trim(), '2');
  const exporter = await startExporter(ns, ['--mode', 'events', '--no-resolve-hosts']);
  t.after(() => exporter.stop());
  const note = exporter
    .stderr()
    .split('\n')
    .find((line) => line.includes('nf_conntrack_events=2'));
  assert.ok(note, exporter.stderr());
  assert.match(note, /deploy\/sysctl\/90-conntrack-exporter\.conf/);
  assert.match(note, /deploy\/kubernetes\/daemonset\.yaml/);
  assert.match(note, /docker-compose\.yml/);
});
