/**
 * Events mode and entries whose timeout runs out: the kernel sends their
 * DESTROY event only when its garbage collection passes by, which beside
 * thousands of long-lived entries is up to a minute later (measured in
 * docs/events-mode.md). The exporter looks such entries up itself, which has
 * the kernel reap them at once, as a read of the table does.
 */
import assert from 'node:assert/strict';
import test from 'node:test';

import { establishedFlows, insertEntries } from '../helpers/conntrack-load';
import { conntrackCount, setSysctls, untrackPort } from '../helpers/events';
import { seriesKey, startExporter, sumOf } from '../helpers/exporter';
import { createNamespace, waitFor } from '../helpers/netns';

const PORT = 9318;
const TIMEOUT_S = 2;
/**
 * The promise (docs/events-mode.md): the timeout, one second of rounding,
 * one second between lookups; the rest is room for a loaded machine.
 */
const BOUND_MS = (TIMEOUT_S + 2) * 1000 + 8_000;
const LONG_LIVED = 3_000;

const closing = (metrics: Map<string, number>) => sumOf(metrics, /^conntrack_closing_connections$/);
const closed = (metrics: Map<string, number>) =>
  sumOf(metrics, /^conntrack_connections_closed_total$/);
const opened = (metrics: Map<string, number>) =>
  sumOf(metrics, /^conntrack_connections_opened_total$/);

test('an entry whose timeout ran out leaves the gauges within seconds, counted closed once', async (t) => {
  const ns = await createNamespace(t);
  await untrackPort(ns, PORT);
  await setSysctls(ns, { 'net.netfilter.nf_conntrack_events': 1 });
  // Long-lived entries, which make the kernel's garbage collection slow.
  await insertEntries(ns, establishedFlows(LONG_LIVED, 1));
  const exporter = await startExporter(ns, ['--mode', 'events', '--no-resolve-hosts']);
  t.after(() => exporter.stop());
  const before = await exporter.metrics();
  assert.equal(closing(before), 0);

  const inserted = Date.now();
  await insertEntries(ns, [
    {
      src: '10.7.0.1',
      dst: '10.9.0.1',
      sport: 1111,
      dport: 80,
      state: 'TIME_WAIT',
      timeout: TIMEOUT_S,
    },
  ]);
  // Seen (its NEW event) and then ended: one more opened and one more closed.
  const after = await waitFor(
    async () => {
      const now = await exporter.metrics();
      return opened(now) === opened(before) + 1 && closed(now) === closed(before) + 1 && now;
    },
    90_000,
    'the entry to come and go',
  );
  const tookMs = Date.now() - inserted;
  assert.ok(tookMs <= BOUND_MS, `left the gauges after ${tookMs} ms`);
  assert.equal(closing(after), 0);
  // Looked up once it ran out, unless the kernel's garbage collection happened
  // to pass by first (then its DESTROY event came before the lookup).
  const gone = after.get(
    seriesKey('conntrack_exporter_expired_entry_lookups_total', { result: 'gone' }),
  );
  assert.ok(gone === 0 || gone === 1, `${gone} lookups found an entry gone`);
  // The table is what the gauges say: the long-lived entries only.
  assert.equal(await conntrackCount(ns), LONG_LIVED);
  assert.equal(sumOf(after, /^conntrack_open_connections$/), LONG_LIVED);
});
