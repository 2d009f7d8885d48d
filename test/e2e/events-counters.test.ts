/**
 * Events mode against real TCP connections between two namespaces: the
 * counters catch what the gauges cannot see, and both agree with
 * `conntrack -L` and `conntrack -E` run beside the exporter.
 */
import assert from 'node:assert/strict';
import test from 'node:test';

import {
  actualCounters,
  expectedCounters,
  setSysctls,
  waitForAgreement,
  waitForEqual,
  watchEvents,
} from '../helpers/events';
import { pick, seriesKey, startExporter } from '../helpers/exporter';
import { conntrackList, createTopology, dropTcpPort, waitFor } from '../helpers/netns';
import { startActor } from '../helpers/tcp-actor';

const OWN_PORT = 9318;
const LOOPBACK = ['127.0.0.1', '::1'];
const ARGS = ['--mode', 'events', '--no-resolve-hosts'];

for (const family of ['ipv4', 'ipv6'] as const) {
  test(`a connection opened and closed between two scrapes is counted (${family})`, async (t) => {
    const { host, remote } = await createTopology(t);
    const [local, peer] = family === 'ipv4' ? [host.ipv4, remote.ipv4] : [host.ipv6, remote.ipv6];
    // TIME_WAIT ends at once, so the kernel destroys the entry within the test.
    await setSysctls(host, { 'net.netfilter.nf_conntrack_tcp_timeout_time_wait': 1 });
    await startActor(remote, { mode: 'listen', address: peer, port: 8080 });
    const exporter = await startExporter(host, ARGS);
    t.after(() => exporter.stop());
    const watcher = await watchEvents(host);
    t.after(() => watcher.stop());

    const labels = { direction: 'outbound', host: peer, port: '8080' };
    const opened = seriesKey('conntrack_connections_opened_total', labels);
    const closed = seriesKey('conntrack_connections_closed_total', labels);
    const before = await exporter.metrics();
    assert.equal(before.get(opened), undefined);

    await startActor(host, { mode: 'connect', host: peer, port: 8080, outcome: 'timewait' });
    // Reading the table makes the kernel drop expired entries at once
    // instead of at its next garbage collection, whenever that is.
    const after = await waitFor(
      async () => {
        await conntrackList(host);
        const metrics = await exporter.metrics();
        return metrics.get(closed) === 1 && metrics;
      },
      90_000,
      'the DESTROY to be counted',
    );
    assert.equal(after.get(opened), 1);
    // No scrape saw it in the gauges: it lived between two of them.
    assert.equal(pick(after, /^conntrack_\w+_connections$/).size, 0);
    await waitForEqual(
      async () => [
        actualCounters(await exporter.metrics()),
        expectedCounters(watcher.lines, [local, ...LOOPBACK], OWN_PORT),
      ],
      'counters agreeing with conntrack -E',
    );
  });
}

test('gauges and counters agree with conntrack -L and conntrack -E as connections come and go', async (t) => {
  const { host, remote } = await createTopology(t);
  const local = [host.ipv4, host.ipv6, ...LOOPBACK];
  await dropTcpPort(remote, 8082);
  await setSysctls(host, { 'net.netfilter.nf_conntrack_tcp_timeout_time_wait': 2 });
  const exporter = await startExporter(host, ARGS);
  t.after(() => exporter.stop());
  const watcher = await watchEvents(host);
  t.after(() => watcher.stop());

  await startActor(remote, { mode: 'listen', address: remote.ipv4, port: 8080 });
  await startActor(remote, { mode: 'listen', address: remote.ipv6, port: 8080 });
  await startActor(remote, {
    mode: 'listen',
    address: remote.ipv4,
    port: 8081,
    behaviour: 'close',
  });
  await startActor(host, { mode: 'listen', address: '::', port: 22 });
  const held = await startActor(host, { mode: 'connect', host: remote.ipv4, port: 8080, count: 3 });
  const held6 = await startActor(host, { mode: 'connect', host: remote.ipv6, port: 8080 });
  await startActor(host, { mode: 'connect', host: remote.ipv4, port: 8081, outcome: 'closewait' });
  await startActor(host, { mode: 'connect', host: remote.ipv4, port: 8082, outcome: 'syn' });
  await startActor(remote, { mode: 'connect', host: host.ipv4, port: 22, count: 2 });
  await startActor(remote, { mode: 'connect', host: host.ipv6, port: 22, outcome: 'reset' });

  await waitForAgreement(host, exporter, local, OWN_PORT);
  await Promise.all([held.end(), held6.reset()]);
  await waitForAgreement(host, exporter, local, OWN_PORT);

  // The ended connections leave TIME_WAIT; their DESTROY events are counted.
  await waitFor(
    async () => {
      await conntrackList(host);
      const metrics = await exporter.metrics();
      const key = seriesKey('conntrack_connections_closed_total', {
        direction: 'outbound',
        host: remote.ipv4,
        port: '8080',
      });
      return metrics.get(key) === 3;
    },
    90_000,
    'the ended connections to be counted closed',
  );
  await waitForAgreement(host, exporter, local, OWN_PORT);
  await waitForEqual(
    async () => [
      actualCounters(await exporter.metrics()),
      expectedCounters(watcher.lines, local, OWN_PORT),
    ],
    'counters agreeing with conntrack -E',
  );
  const metrics = await exporter.metrics();
  assert.equal(metrics.get(seriesKey('conntrack_exporter_event_overflows_total')), 0);
  assert.equal(metrics.get(seriesKey('conntrack_exporter_table_mode', { mode: 'events' })), 1);
});

// With "2" (the default) the kernel gives no events to connections made
// while nobody listened, so the exporter checks them at scrapes until they
// are gone: here one among many connections made later, so by looking it up
// rather than re-reading the table. With "1" every connection has events and
// scrapes stay cheap.
for (const setting of [2, 1]) {
  test(`a connection older than the exporter is followed to its end (nf_conntrack_events=${setting})`, async (t) => {
    const { host, remote } = await createTopology(t);
    await setSysctls(host, { 'net.netfilter.nf_conntrack_events': setting });
    await startActor(remote, { mode: 'listen', address: remote.ipv4, port: 8080 });
    const early = await startActor(host, { mode: 'connect', host: remote.ipv4, port: 8080 });
    const exporter = await startExporter(host, ARGS);
    t.after(() => exporter.stop());
    await startActor(host, { mode: 'connect', host: remote.ipv4, port: 8080, count: 20 });
    const local = [host.ipv4, host.ipv6, ...LOOPBACK];

    await waitForAgreement(host, exporter, local, OWN_PORT);
    await early.end();
    await waitForAgreement(host, exporter, local, OWN_PORT);
    const metrics = await exporter.metrics();
    const value = (name: string, labels?: Record<string, string>) =>
      metrics.get(seriesKey(name, labels)) ?? 0;
    const lookups = value('conntrack_exporter_silent_entry_lookups_total');
    if (setting === 2) {
      // Looked up while it was silent; once it ends its events make it known,
      // so how many lookups there were depends on how many scrapes the
      // agreement took, only not on zero.
      assert.ok(lookups >= 1, `the old connection looked up while silent (${lookups})`);
      // It is in TIME_WAIT now, which outlasts the test.
      assert.equal(value('conntrack_exporter_silent_entries'), 1);
    } else {
      assert.equal(lookups, 0);
      assert.equal(value('conntrack_exporter_silent_entries'), 0);
    }
    assert.equal(value('conntrack_exporter_resyncs_total', { reason: 'silent_entries' }), 0);
    assert.equal(value('conntrack_exporter_resyncs_total', { reason: 'start' }), 1);
  });
}
