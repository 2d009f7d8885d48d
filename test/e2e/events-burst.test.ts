/**
 * Events mode under load: bursts of synthetic entries while the exporter
 * runs, with the kernel dropping events when the receive buffer is full.
 * Whatever was dropped, the live table must end equal to the kernel's.
 */
import assert from 'node:assert/strict';
import test, { type TestContext } from 'node:test';

import { insertEntries, type SyntheticEntry } from '../helpers/conntrack-load';
import { conntrackCount, untrackPort } from '../helpers/events';
import { pick, seriesKey, startExporter, type ExporterProcess } from '../helpers/exporter';
import { createNamespace, waitFor, type Namespace } from '../helpers/netns';

const PORT = 9318;
const REMOTES = 8;

/** `count` established flows from distinct clients to REMOTES servers on port 443. */
function burst(count: number, from = 0): SyntheticEntry[] {
  return Array.from({ length: count }, (_, n) => {
    const i = from + n;
    return {
      src: `10.1.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`,
      dst: `10.2.0.${(i % REMOTES) + 1}`,
      sport: 10_000 + Math.floor(i / 62_500),
      dport: 443,
      state: 'ESTABLISHED',
    };
  });
}

const sum = (series: Map<string, number>) => [...series.values()].reduce((a, b) => a + b, 0);
const value = (metrics: Map<string, number>, name: string, labels?: Record<string, string>) =>
  metrics.get(seriesKey(name, labels)) ?? 0;

async function start(t: TestContext, args: string[]): Promise<[Namespace, ExporterProcess]> {
  const ns = await createNamespace(t);
  // Scrapes then add no entries: the table holds exactly what the test made.
  await untrackPort(ns, PORT);
  const exporter = await startExporter(ns, ['--mode', 'events', '--no-resolve-hosts', ...args]);
  t.after(() => exporter.stop());
  return [ns, exporter];
}

/** Waits until the live table, the gauges and `conntrack -C` all hold `expected` entries. */
async function waitForTable(ns: Namespace, exporter: ExporterProcess, expected: number) {
  let last = { live: -1, gauges: -1, kernel: -1 };
  try {
    return await waitFor(
      async () => {
        const metrics = await exporter.metrics();
        last = {
          live: value(metrics, 'conntrack_exporter_live_table_entries'),
          gauges: sum(pick(metrics, /^conntrack_open_connections$/)),
          kernel: await conntrackCount(ns),
        };
        return last.live === expected && last.gauges === expected && last.kernel === expected
          ? metrics
          : undefined;
      },
      120_000,
      `${expected} entries`,
    );
  } catch (error) {
    assert.deepEqual(last, { live: expected, gauges: expected, kernel: expected });
    throw error;
  }
}

test('a burst of 50,000 new entries: the live table ends equal to conntrack -C', async (t) => {
  const [ns, exporter] = await start(t, []);
  await insertEntries(ns, burst(50_000));
  const metrics = await waitForTable(ns, exporter, 50_000);

  const overflows = value(metrics, 'conntrack_exporter_event_overflows_total');
  const repairs = value(metrics, 'conntrack_exporter_resyncs_total', { reason: 'overflow' });
  t.diagnostic(`overflows: ${overflows}, overflow resyncs: ${repairs}`);
  // Every overflow was counted and repaired by a re-read.
  if (overflows > 0) assert.ok(repairs >= 1, `${overflows} overflows, ${repairs} repairs`);
  const opened = sum(pick(metrics, /^conntrack_connections_opened_total$/));
  assert.equal(opened, 50_000);
  assert.equal(
    value(metrics, 'conntrack_open_connections', {
      direction: 'forwarded',
      host: '10.2.0.1',
      port: '443',
    }),
    50_000 / REMOTES,
  );
});

test('a tiny receive buffer forces overflows, and re-reads repair them', async (t) => {
  const [ns, exporter] = await start(t, ['--netlink-buffer-size', '4K']);
  await insertEntries(ns, burst(20_000));
  let metrics = await waitForTable(ns, exporter, 20_000);
  const overflows = value(metrics, 'conntrack_exporter_event_overflows_total');
  assert.ok(overflows >= 1, 'the kernel dropped events');
  assert.ok(value(metrics, 'conntrack_exporter_resyncs_total', { reason: 'overflow' }) >= 1);
  // The NEW events that were dropped are counted by the repair instead.
  assert.equal(sum(pick(metrics, /^conntrack_connections_opened_total$/)), 20_000);

  // Ending many at once drops DESTROY events the same way.
  const deleted = await ns.exec(['conntrack', '-D', '-p', 'tcp', '--orig-dst', '10.2.0.1']);
  assert.equal(deleted.code, 0, deleted.stderr);
  const gone = 20_000 / REMOTES;
  metrics = await waitForTable(ns, exporter, 20_000 - gone);
  assert.ok(value(metrics, 'conntrack_exporter_event_overflows_total') > overflows);
  assert.equal(sum(pick(metrics, /^conntrack_connections_closed_total$/)), gone);
  assert.equal(sum(pick(metrics, /^conntrack_connections_opened_total$/)), 20_000);
});

/**
 * Real connections opened and reset on loopback in `ns`, in rounds of
 * `perRound`, until stop() (which lets the round in flight end): each makes
 * a NEW, an UPDATE or two and a DESTROY event.
 */
function churnConnections(ns: Namespace, perRound: number): { stop(): Promise<void> } {
  const script = `
    const net = require('node:net');
    const server = net.createServer((s) => s.on('error', () => {}));
    let stopping = false;
    process.stdin.on('end', () => (stopping = true)).resume();
    server.listen(7000, '127.0.0.1', async () => {
      while (!stopping) {
        await Promise.all(Array.from({ length: ${perRound} }, () => new Promise((resolve) => {
          const socket = net.connect(7000, '127.0.0.1', () => socket.resetAndDestroy());
          socket.on('error', () => {});
          socket.once('close', resolve);
        })));
      }
      process.exit(0);
    });
  `;
  const child = ns.spawn([process.execPath, '-e', script]);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    stop: async () => {
      child.stdin?.end();
      await exited;
    },
  };
}

async function tcpCount(ns: Namespace): Promise<number> {
  const result = await ns.exec(['conntrack', '-L', '-p', 'tcp']);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.split('\n').filter((line) => line.startsWith('tcp')).length;
}

test('events keep coming after overflows of a 4K buffer under connection churn', async (t) => {
  const [ns, exporter] = await start(t, ['--netlink-buffer-size', '4K']);
  const churn = churnConnections(ns, 200);
  t.after(() => churn.stop());
  // Each overflow is a chance for a pass over the socket to end with a
  // drain to report and no records: many of them make that path run.
  await waitFor(
    async () => value(await exporter.metrics(), 'conntrack_exporter_event_overflows_total') >= 20,
    120_000,
    '20 overflows',
  );
  await churn.stop();
  assert.equal(exporter.process.exitCode, null, exporter.stderr());
  assert.doesNotMatch(exporter.stderr(), /TypeError|detached/);
  const before = await exporter.metrics();
  const newEvents = value(before, 'conntrack_exporter_events_total', { type: 'new' });

  // Events are still delivered: a new entry is counted as a NEW event (a
  // re-read finds entries without counting events) and reaches the gauges.
  await insertEntries(ns, burst(1));
  const after = await waitFor(
    async () => {
      const metrics = await exporter.metrics();
      return value(metrics, 'conntrack_exporter_events_total', { type: 'new' }) > newEvents &&
        value(metrics, 'conntrack_open_connections', {
          direction: 'forwarded',
          host: '10.2.0.1',
          port: '443',
        }) === 1
        ? metrics
        : undefined;
    },
    60_000,
    'the new entry',
  );
  assert.ok(after);
  // And the live table ends equal to the kernel's.
  await waitFor(
    async () =>
      value(await exporter.metrics(), 'conntrack_exporter_live_table_entries') ===
      (await tcpCount(ns)),
    120_000,
    'the live table equal to conntrack -L',
  );
  assert.equal(exporter.process.exitCode, null, exporter.stderr());
});
