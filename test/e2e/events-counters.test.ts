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
  netCounters,
  setSysctls,
  tableConnections,
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
    // Waits on the kernel, not on the exporter, so that no scrape happens
    // while the connection lives.
    await waitFor(
      async () => {
        // Reading the table makes the kernel drop expired entries at once
        // instead of at its next garbage collection, whenever that is.
        await conntrackList(host);
        return watcher.lines.some((l) => l.includes('[DESTROY]') && l.includes(' dport=8080 '));
      },
      90_000,
      'the kernel to destroy the entry',
    );
    const after = await waitFor(
      async () => {
        const metrics = await exporter.metrics();
        return metrics.get(closed) !== undefined && metrics;
      },
      30_000,
      'the DESTROY to reach the exporter',
    );
    assert.equal(after.get(opened), 1);
    assert.equal(after.get(closed), 1);
    // The only scrapes were before it opened and after it ended.
    assert.deepEqual([...pick(after, /^conntrack_\w+_connections$/)], []);
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
// while nobody listened: the exporter looks them up in the background, each
// at least once per --silent-check-interval. With "1" every connection has
// events. Either way, once the connections change or end and that interval
// has passed, the gauges equal `conntrack -L` and each series' opened −
// closed equals its connections in the table, for the connections older
// than the exporter as for the later ones, and no scrape re-read the table.
for (const setting of [2, 1]) {
  test(`connections older than the exporter are followed to their end beside later ones (nf_conntrack_events=${setting})`, async (t) => {
    const { host, remote } = await createTopology(t);
    await setSysctls(host, {
      'net.netfilter.nf_conntrack_events': setting,
      // Ended connections leave the table within the test, however they ended.
      'net.netfilter.nf_conntrack_tcp_timeout_fin_wait': 2,
      'net.netfilter.nf_conntrack_tcp_timeout_close_wait': 2,
      'net.netfilter.nf_conntrack_tcp_timeout_time_wait': 2,
      'net.netfilter.nf_conntrack_tcp_timeout_close': 2,
    });
    await startActor(remote, { mode: 'listen', address: remote.ipv4, port: 8080 });
    await startActor(remote, { mode: 'listen', address: remote.ipv6, port: 8081 });
    const early = await startActor(host, {
      mode: 'connect',
      host: remote.ipv4,
      port: 8080,
      count: 3,
    });
    const earlyReset = await startActor(host, { mode: 'connect', host: remote.ipv6, port: 8081 });
    const earlyKept = await startActor(host, { mode: 'connect', host: remote.ipv4, port: 8080 });
    const exporter = await startExporter(host, [...ARGS, '--silent-check-interval', '1s']);
    t.after(() => exporter.stop());
    const later = await startActor(host, {
      mode: 'connect',
      host: remote.ipv4,
      port: 8080,
      count: 5,
    });
    const laterKept = await startActor(host, {
      mode: 'connect',
      host: remote.ipv6,
      port: 8081,
      count: 2,
    });
    const local = [host.ipv4, host.ipv6, ...LOOPBACK];
    const value = (metrics: Map<string, number>, name: string, labels?: Record<string, string>) =>
      metrics.get(seriesKey(name, labels)) ?? 0;
    const agree = async () => {
      await waitForAgreement(host, exporter, local, OWN_PORT);
      await waitForEqual(
        async () => [
          netCounters(await exporter.metrics()),
          await tableConnections(host, local, OWN_PORT),
        ],
        'opened − closed agreeing with the connections in conntrack -L',
      );
    };

    await agree();
    const silent = await exporter.metrics();
    assert.equal(value(silent, 'conntrack_exporter_silent_entries'), setting === 2 ? 5 : 0);

    await Promise.all([early.end(), earlyReset.reset(), later.end()]);
    await agree();
    // Ended ones leave the table; the connections still held stay.
    await waitFor(
      async () =>
        (await conntrackList(host)).every(
          (entry) => entry.state === 'ESTABLISHED' || entry.original.dport === OWN_PORT,
        ),
      90_000,
      'the ended connections to leave the table',
    );
    await agree();

    const ended = await exporter.metrics();
    const counter = (name: string, ip: string, port: string) =>
      value(ended, `conntrack_connections_${name}_total`, {
        direction: 'outbound',
        host: ip,
        port,
      });
    // Every connection counted opened once, whether it predates the exporter or not.
    assert.equal(counter('opened', remote.ipv4, '8080'), 9);
    assert.equal(counter('closed', remote.ipv4, '8080'), 8);
    assert.equal(counter('opened', remote.ipv6, '8081'), 3);
    assert.equal(counter('closed', remote.ipv6, '8081'), 1);
    assert.equal(value(ended, 'conntrack_exporter_silent_entries'), setting === 2 ? 1 : 0);
    // Found without a read of the whole table after the first.
    assert.equal(value(ended, 'conntrack_exporter_resyncs_total', { reason: 'silent_entries' }), 0);
    assert.equal(value(ended, 'conntrack_exporter_resyncs_total', { reason: 'start' }), 1);
    await Promise.all([earlyKept.stop(), laterKept.stop()]);
  });
}
