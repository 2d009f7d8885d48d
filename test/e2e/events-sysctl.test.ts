/**
 * net.netfilter.nf_conntrack_events turned off and on again in the watched
 * namespace while the exporter runs in events mode.
 */
import assert from 'node:assert/strict';
import test from 'node:test';

import { establishedFlows, insertEntries } from '../helpers/conntrack-load';
import { setSysctls, untrackPort } from '../helpers/events';
import { seriesKey, startExporter, sumOf } from '../helpers/exporter';
import { createNamespace, waitFor } from '../helpers/netns';

const PORT = 9318;

const open = (metrics: Map<string, number>) => sumOf(metrics, /^conntrack_open_connections$/);
const warnings = (stderr: string) =>
  stderr.split('\n').filter((line) => /nf_conntrack_events=0/.test(line));

test('events turned off: scrapes read the table, with one warning; turned on again: events resume', async (t) => {
  const ns = await createNamespace(t);
  await untrackPort(ns, PORT);
  await setSysctls(ns, { 'net.netfilter.nf_conntrack_events': 1 });
  const exporter = await startExporter(ns, [
    '--mode',
    'events',
    '--no-resolve-hosts',
    '--silent-check-interval',
    '1s',
  ]);
  t.after(() => exporter.stop());
  await insertEntries(ns, establishedFlows(10, 1));
  await waitFor(async () => open(await exporter.metrics()) === 10, 30_000, '10 open');

  // Entries opened while events are off send no event, ever.
  await setSysctls(ns, { 'net.netfilter.nf_conntrack_events': 0 });
  await insertEntries(ns, establishedFlows(300, 2));
  assert.equal(open(await exporter.metrics()), 310);
  assert.equal(open(await exporter.metrics()), 310);
  assert.equal(warnings(exporter.stderr()).length, 1, exporter.stderr());

  await setSysctls(ns, { 'net.netfilter.nf_conntrack_events': 1 });
  let metrics = await exporter.metrics();
  assert.equal(open(metrics), 310);
  assert.equal(
    metrics.get(seriesKey('conntrack_exporter_resyncs_total', { reason: 'events_on' })),
    1,
  );
  // Those 300 send no events: their end is found by the background check,
  // within --silent-check-interval.
  const deleted = await ns.exec(['conntrack', '-D', '-p', 'tcp', '--orig-src', '10.2.0.1']);
  assert.equal(deleted.code, 0, deleted.stderr);
  await waitFor(async () => open(await exporter.metrics()) === 309, 30_000, '309 open');
  metrics = await exporter.metrics();
  assert.equal(metrics.get(seriesKey('conntrack_exporter_silent_entries')), 299);
  assert.equal(
    metrics.get(seriesKey('conntrack_exporter_resyncs_total', { reason: 'silent_entries' })),
    0,
  );
  // New entries are counted by their events again, without re-reads.
  const before = await exporter.metrics();
  await insertEntries(ns, establishedFlows(5, 3));
  metrics = await waitFor(
    async () => {
      const scraped = await exporter.metrics();
      return open(scraped) === 314 && scraped;
    },
    30_000,
    '314 open',
  );
  const key = seriesKey('conntrack_exporter_events_total', { type: 'new' });
  assert.equal(metrics.get(key), (before.get(key) ?? 0) + 5);
  assert.equal(warnings(exporter.stderr()).length, 1, exporter.stderr());
  assert.match(exporter.stderr(), /conntrack events are back on/);
});
