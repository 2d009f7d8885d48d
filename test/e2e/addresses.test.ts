/**
 * The host's addresses decide which side of a flow is remote, and they are
 * current at each scrape (read again whenever rtnetlink tells of a change):
 * in events mode a change re-reads the table (resync reason "addresses") so
 * that every entry is classified again.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import test from 'node:test';

import { insertEntries } from '../helpers/conntrack-load';
import { pick, seriesKey, startExporter } from '../helpers/exporter';
import { createNamespace, createTopology, waitFor, type Namespace } from '../helpers/netns';

const CLIENT = { ipv4: '198.51.100.7', ipv6: '2001:db8:1::7' };
// Not the host's at first: flows to them pass through (forwarded).
const ADDED = { ipv4: '192.0.2.50', ipv6: '2001:db8::50' };

const open = (direction: string, host: string) =>
  seriesKey('conntrack_open_connections', { direction, host, port: '443' });

async function mustExec(ns: Namespace, cmd: string[]): Promise<void> {
  const result = await ns.exec(cmd);
  assert.equal(result.code, 0, `${cmd.join(' ')}: ${result.stderr}`);
}

test('events mode: an added or removed local address re-reads and reclassifies the table', async (t) => {
  const { host } = await createTopology(t);
  await insertEntries(host, [
    { src: CLIENT.ipv4, dst: ADDED.ipv4, sport: 50000, dport: 443, state: 'ESTABLISHED' },
    { src: CLIENT.ipv6, dst: ADDED.ipv6, sport: 50001, dport: 443, state: 'ESTABLISHED' },
  ]);
  const exporter = await startExporter(host, ['--mode', 'events', '--no-resolve-hosts']);
  t.after(() => exporter.stop());
  const state = async () => {
    const metrics = await exporter.metrics();
    const gauges = new Map(
      [...pick(metrics, /^conntrack_open_connections$/)].filter(([, value]) => value !== 0),
    );
    const resyncs = metrics.get(
      seriesKey('conntrack_exporter_resyncs_total', { reason: 'addresses' }),
    );
    return { gauges, resyncs };
  };

  const forwarded = new Map([
    [open('forwarded', ADDED.ipv4), 1],
    [open('forwarded', ADDED.ipv6), 1],
  ]);
  assert.deepEqual(await state(), { gauges: forwarded, resyncs: 0 });

  // Both added before the next scrape: one change, one re-read.
  await mustExec(host, ['ip', 'addr', 'add', `${ADDED.ipv4}/32`, 'dev', 'lo']);
  await mustExec(host, ['ip', 'addr', 'add', `${ADDED.ipv6}/128`, 'dev', 'lo', 'nodad']);
  const inbound = new Map([
    [open('inbound', CLIENT.ipv4), 1],
    [open('inbound', CLIENT.ipv6), 1],
  ]);
  assert.deepEqual(await state(), { gauges: inbound, resyncs: 1 });
  // Nothing changed since: no further re-read.
  assert.deepEqual(await state(), { gauges: inbound, resyncs: 1 });

  await mustExec(host, ['ip', 'addr', 'del', `${ADDED.ipv4}/32`, 'dev', 'lo']);
  await mustExec(host, ['ip', 'addr', 'del', `${ADDED.ipv6}/128`, 'dev', 'lo']);
  // The kernel may take a moment to drop an IPv6 address from the list.
  await waitFor(
    async () =>
      !(await host.exec(['ip', '-6', 'addr', 'show', 'dev', 'lo'])).stdout.includes(ADDED.ipv6),
    10_000,
    'the address removed',
  );
  assert.deepEqual(await state(), { gauges: forwarded, resyncs: 2 });
});

const WATCH = path.join(__dirname, '..', 'helpers', 'address-watch.ts');

for (const where of ['its own namespace', 'a namespace it watches (--netns)']) {
  test(`the addresses are read again only after rtnetlink told of a change: ${where}`, async (t) => {
    const ns = await createNamespace(t);
    const args = [process.execPath, '--import', 'tsx', WATCH];
    let result;
    if (where.includes('--netns')) {
      const agent = await createNamespace(t);
      result = await agent.exec([...args, `/var/run/netns/${ns.name}`]);
    } else {
      result = await ns.exec(args);
    }
    assert.equal(result.code, 0, result.stderr);
    const loopback = ['127.0.0.1', '::1'];
    const added = ['192.0.2.50', '2001:db8::50'];
    const sorted = (list: string[]) => [...list].sort();
    assert.deepEqual(JSON.parse(result.stdout), [
      { step: 'first', reads: 1, local: sorted(loopback) },
      { step: 'nothing changed', reads: 1, local: sorted(loopback) },
      { step: 'two addresses added', reads: 2, local: sorted([...loopback, ...added]) },
      { step: 'nothing changed since', reads: 2, local: sorted([...loopback, ...added]) },
      { step: 'one removed', reads: 3, local: sorted([...loopback, '2001:db8::50']) },
      { step: 'lo down', reads: 4 },
      { step: 'asked the addon', reads: 4, changed: false },
    ]);
  });
}
