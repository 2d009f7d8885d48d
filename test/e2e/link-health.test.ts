/**
 * Link health (--collector.link-health) against real TCP between two
 * namespaces: each way a connection fails is counted once under its
 * reason, a clean close is none, and connect times and lifetimes are
 * measured for the connections seen opening.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import test from 'node:test';

import { setSysctls } from '../helpers/events';
import { pick, seriesKey, startExporter } from '../helpers/exporter';
import {
  addFilterRule,
  conntrackList,
  createTopology,
  dropTcpPort,
  keepTimeWait,
  waitFor,
} from '../helpers/netns';
import { connectRefused, startActor } from '../helpers/tcp-actor';

const ARGS = ['--mode', 'events', '--no-resolve-hosts', '--collector.link-health'];
const REASONS = ['refused', 'timeout', 'reset'] as const;

/** The failures of one series, by reason; zeros when it has none. */
function failuresOf(metrics: Map<string, number>, labels: Record<string, string>) {
  return Object.fromEntries(
    REASONS.map((reason) => [
      reason,
      metrics.get(seriesKey('conntrack_connection_failures_total', { ...labels, reason })) ?? 0,
    ]),
  );
}

for (const family of ['ipv4', 'ipv6'] as const) {
  test(`refused, timed out and reset connections, each counted once under its reason (${family})`, async (t) => {
    const { host, remote } = await createTopology(t);
    const [local, peer] = family === 'ipv4' ? [host.ipv4, remote.ipv4] : [host.ipv6, remote.ipv6];
    // An unanswered SYN's entry, or a handshake without its final ACK, ends
    // within seconds; the defaults are 2 minutes and 1 minute.
    await setSysctls(host, {
      'net.netfilter.nf_conntrack_tcp_timeout_syn_sent': 3,
      'net.netfilter.nf_conntrack_tcp_timeout_syn_recv': 3,
      // Each SYN-ACK sent again keeps the entry another timeout: one retry only.
      'net.ipv4.tcp_synack_retries': 1,
    });
    await dropTcpPort(remote, 8081);
    // The remote host never sees this host's SYN-ACKs from port 9002: the
    // handshake of its connect stops in SYN_RECV here, and no final ACK comes.
    await addFilterRule(remote, 'nosynack', 'input', 'tcp sport 9002 drop');
    // Drops every other SYN to 8084: the first SYN of a connect is lost and resent after 1 s.
    await addFilterRule(
      remote,
      'halfdrop',
      'input',
      'tcp dport 8084 tcp flags syn numgen inc mod 2 0 drop',
    );
    await keepTimeWait(remote, 8083);
    const listeners = await Promise.all(
      [8080, 8082, 8083, 8084].map((port) =>
        startActor(remote, { mode: 'listen', address: peer, port }),
      ),
    );
    const exporter = await startExporter(host, ARGS);
    t.after(() => exporter.stop());

    // Refused: nothing listens, outbound and inbound.
    await connectRefused(host, peer, 9000);
    await connectRefused(remote, local, 9001);
    // Reset with SO_LINGER 0 by this host, then by the remote host.
    const ours = await startActor(host, { mode: 'connect', host: peer, port: 8080 });
    await ours.reset();
    await startActor(host, { mode: 'connect', host: peer, port: 8082 });
    await listeners[1]!.reset();
    // A clean close: both FINs.
    await startActor(host, { mode: 'connect', host: peer, port: 8083, outcome: 'timewait' });
    // One SYN lost: connected after a retransmission.
    await startActor(host, { mode: 'connect', host: peer, port: 8084 }, 20_000);
    // Timed out: the SYN is dropped; the client gives up, the entry expires.
    const unanswered = await startActor(host, {
      mode: 'connect',
      host: peer,
      port: 8081,
      outcome: 'syn',
    });
    await unanswered.stop();
    await startActor(host, { mode: 'listen', address: local, port: 9002 });
    const unacknowledged = await startActor(remote, {
      mode: 'connect',
      host: local,
      port: 9002,
      outcome: 'syn',
    });
    await unacknowledged.stop();

    const inbound = (port: number) => ({ host: peer, port: String(port), direction: 'inbound' });
    const timedOut = seriesKey('conntrack_connection_failures_total', {
      host: peer,
      port: '8081',
      direction: 'outbound',
      reason: 'timeout',
    });
    const metrics = await waitFor(
      async () => {
        // Reading the table makes the kernel drop expired entries now.
        await conntrackList(host);
        const scraped = await exporter.metrics();
        return (
          scraped.get(timedOut) === 1 && failuresOf(scraped, inbound(9002)).timeout === 1 && scraped
        );
      },
      60_000,
      'the unanswered and the unacknowledged entries to expire and be counted',
    );

    const out = (port: number) => ({ host: peer, port: String(port), direction: 'outbound' });
    assert.deepEqual(failuresOf(metrics, out(9000)), { refused: 1, timeout: 0, reset: 0 });
    assert.deepEqual(failuresOf(metrics, inbound(9001)), { refused: 1, timeout: 0, reset: 0 });
    assert.deepEqual(failuresOf(metrics, inbound(9002)), { refused: 0, timeout: 1, reset: 0 });
    assert.deepEqual(failuresOf(metrics, out(8081)), { refused: 0, timeout: 1, reset: 0 });
    assert.deepEqual(failuresOf(metrics, out(8080)), { refused: 0, timeout: 0, reset: 1 });
    assert.deepEqual(failuresOf(metrics, out(8082)), { refused: 0, timeout: 0, reset: 1 });
    assert.deepEqual(failuresOf(metrics, out(8083)), { refused: 0, timeout: 0, reset: 0 });
    assert.deepEqual(failuresOf(metrics, out(8084)), { refused: 0, timeout: 0, reset: 0 });
    // Nothing else failed.
    const total = [...pick(metrics, /^conntrack_connection_failures_total$/).values()];
    assert.equal(
      total.reduce((a, b) => a + b, 0),
      6,
    );

    // Connect times: one each for the connections established, none for the others.
    const connects = (port: number, le?: string) =>
      metrics.get(
        le === undefined
          ? seriesKey('conntrack_connect_duration_seconds_count', {
              port: String(port),
              direction: 'outbound',
            })
          : seriesKey('conntrack_connect_duration_seconds_bucket', {
              port: String(port),
              direction: 'outbound',
              le,
            }),
      );
    for (const port of [8080, 8082, 8083]) {
      assert.equal(connects(port), 1, `connects to ${port}`);
      assert.equal(connects(port, '0.5'), 1, `connect to ${port} under 0.5 s`);
    }
    for (const port of [9000, 8081]) assert.equal(connects(port), undefined);
    assert.equal(
      metrics.get(
        seriesKey('conntrack_connect_duration_seconds_count', {
          port: '9002',
          direction: 'inbound',
        }),
      ),
      undefined,
    );
    // The retransmitted SYN: between 1 and 1.5 s.
    assert.equal(connects(8084), 1);
    assert.equal(connects(8084, '0.5'), 0);
    assert.equal(connects(8084, '1.5'), 1);

    // Lifetimes of the established connections that ended, per host and per port.
    for (const port of [8080, 8082, 8083]) {
      const labels = out(port);
      assert.equal(
        metrics.get(seriesKey('conntrack_connection_lifetime_seconds_count', labels)),
        1,
        `lifetimes to ${port}`,
      );
      assert.equal(
        metrics.get(
          seriesKey('conntrack_connection_lifetime_by_port_seconds_bucket', {
            port: String(port),
            direction: 'outbound',
            le: '10',
          }),
        ),
        1,
      );
    }
    // promtool is the reference for the exposition format (a summary without
    // quantiles, histograms written by the exporter itself).
    if (spawnSync('promtool', ['--version']).status === 0) {
      const check = spawnSync('promtool', ['check', 'metrics'], {
        input: await exporter.scrape(),
        encoding: 'utf8',
      });
      assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
    }
    // Still open: no lifetime yet.
    assert.equal(
      metrics.get(seriesKey('conntrack_connection_lifetime_seconds_count', out(8084))),
      undefined,
    );
  });
}
