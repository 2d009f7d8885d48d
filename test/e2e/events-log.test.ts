/**
 * --log-events against real connections: JSON lines that parse and name the
 * right remote host and state, netfilter lines like conntrack -E's, and a
 * closed stdout that stops the log without stopping the exporter.
 */
import assert from 'node:assert/strict';
import test from 'node:test';

import { setSysctls, stdoutLines, watchEvents } from '../helpers/events';
import { startExporter } from '../helpers/exporter';
import { conntrackList, createTopology, waitFor, type ConntrackEntry } from '../helpers/netns';
import { startActor } from '../helpers/tcp-actor';

const ARGS = ['--mode', 'events', '--no-resolve-hosts', '--log-events'];

interface JsonLine {
  timestamp: string;
  event_type: string;
  original_source_host: string;
  original_destination_host: string;
  reply_source_host: string;
  reply_destination_host: string;
  remote_host: string;
  state: string | null;
  direction: string;
}

const hostPort = (address: string, port: number) =>
  address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;

for (const family of ['ipv4', 'ipv6'] as const) {
  test(`JSON event lines parse and carry the remote host and state (${family})`, async (t) => {
    const { host, remote } = await createTopology(t);
    const [local, peer] = family === 'ipv4' ? [host.ipv4, remote.ipv4] : [host.ipv6, remote.ipv6];
    // Whichever closing state the kernel last saw, the entry runs out well
    // within the wait below (FIN_WAIT's own default is 120 s).
    await setSysctls(host, {
      'net.netfilter.nf_conntrack_tcp_timeout_fin_wait': 10,
      'net.netfilter.nf_conntrack_tcp_timeout_close_wait': 10,
      'net.netfilter.nf_conntrack_tcp_timeout_last_ack': 10,
      'net.netfilter.nf_conntrack_tcp_timeout_time_wait': 1,
    });
    const exporter = await startExporter(host, [...ARGS, '--log-events-format', 'json']);
    t.after(() => exporter.stop());
    const lines = stdoutLines(exporter);

    await startActor(remote, { mode: 'listen', address: peer, port: 8080 });
    await startActor(host, { mode: 'listen', address: local, port: 8081 });
    const outbound = await startActor(host, { mode: 'connect', host: peer, port: 8080 });
    const inbound = await startActor(remote, { mode: 'connect', host: local, port: 8081 });
    await outbound.end();
    const [out] = outbound.sockets;
    const [into] = inbound.sockets;
    assert.ok(out && into);

    const parsed = (): JsonLine[] => lines.map((line) => JSON.parse(line) as JsonLine);
    const of = (source: string) => parsed().filter((l) => l.original_source_host === source);
    const outSource = hostPort(local, out.localPort);
    const inSource = hostPort(peer, into.localPort);
    let table: ConntrackEntry[] = [];
    await waitFor(
      async () => {
        // Reading the table makes the kernel drop the expired entry now.
        table = await conntrackList(host);
        return of(outSource).some((l) => l.event_type === 'destroy');
      },
      90_000,
      'the outbound connection to be destroyed',
    ).catch((error: Error) => {
      // What was logged and what the kernel still holds tell a lost event
      // from an entry that never ran out.
      const entry = table.filter((e) => e.original.sport === out.localPort);
      throw new Error(
        `${error.message}; logged: ${JSON.stringify(of(outSource))}; ` +
          `conntrack -L: ${JSON.stringify(entry)}; stderr: ${exporter.stderr()}`,
      );
    });
    await waitFor(() => of(inSource).some((l) => l.state === 'Open'), 10_000, 'inbound open');

    for (const line of parsed())
      assert.ok(!Number.isNaN(Date.parse(line.timestamp)), line.timestamp);
    const outLines = of(outSource);
    // SYN_SENT, SYN_RECV, ESTABLISHED, TIME_WAIT, then the end.
    const states = outLines.map((l) => `${l.event_type} ${l.state}`);
    assert.equal(states[0], 'new Opening');
    assert.equal(states.at(-1)?.split(' ')[0], 'destroy');
    const order = ['Opening', 'Open', 'Closing'].map((state) =>
      outLines.findIndex((l) => l.state === state),
    );
    assert.deepEqual(
      [...order].sort((a, b) => a - b),
      order,
      states.join(', '),
    );
    assert.ok(!order.includes(-1), states.join(', '));
    for (const line of outLines) {
      assert.equal(line.remote_host, hostPort(peer, 8080));
      assert.equal(line.direction, 'outbound');
      assert.equal(line.original_destination_host, hostPort(peer, 8080));
      assert.equal(line.reply_source_host, hostPort(peer, 8080));
      assert.equal(line.reply_destination_host, outSource);
    }
    const inLines = of(inSource);
    assert.deepEqual(inLines[0] && [inLines[0].event_type, inLines[0].state], ['new', 'Opening']);
    for (const line of inLines) {
      // The remote client, at its own port (not the local service port 8081).
      assert.equal(line.remote_host, inSource);
      assert.equal(line.direction, 'inbound');
    }
  });
}

test('netfilter event lines read as conntrack -E prints the same events, DESTROY included', async (t) => {
  const { host, remote } = await createTopology(t);
  // Counters on, so that the DESTROY line carries them; the reset
  // connection's CLOSE state ends after a second, so it is destroyed.
  await setSysctls(host, {
    'net.netfilter.nf_conntrack_acct': 1,
    'net.netfilter.nf_conntrack_tcp_timeout_close': 1,
  });
  const exporter = await startExporter(host, ARGS);
  t.after(() => exporter.stop());
  const ours = stdoutLines(exporter);
  const watcher = await watchEvents(host);
  t.after(() => watcher.stop());

  await startActor(remote, { mode: 'listen', address: remote.ipv4, port: 8080 });
  const client = await startActor(host, { mode: 'connect', host: remote.ipv4, port: 8080 });
  await client.reset();
  // NEW (SYN_SENT), then updates: SYN_RECV, ESTABLISHED, CLOSE; then DESTROY.
  const sport = `sport=${client.sockets[0]?.localPort} `;
  // Without the exporter's time stamp, and without what conntrack adds for
  // events from user space.
  const mine = () =>
    ours.filter((l) => l.includes(sport)).map((l) => l.replace(/^\[[\d.]+\]\t/, ''));
  const theirs = () => watcher.lines.filter((l) => l.includes(sport));
  await waitFor(
    async () => {
      // Reading the table makes the kernel drop the expired entry now.
      await conntrackList(host);
      return theirs().some((l) => l.includes('[DESTROY]'));
    },
    60_000,
    'the kernel to destroy the entry',
  );
  await waitFor(() => mine().length === theirs().length, 30_000, 'the same events logged');
  assert.equal(theirs().length, 5, theirs().join('\n'));
  assert.deepEqual(mine(), theirs());
  assert.match(theirs()[4]!, /^\[DESTROY\] tcp .* packets=\d+ bytes=\d+ /);
});

test('a closed stdout stops the event log, not the exporter', async (t) => {
  const { host, remote } = await createTopology(t);
  const exporter = await startExporter(host, ARGS);
  t.after(() => exporter.stop());
  // The reading end goes away: the exporter's next write fails with EPIPE.
  exporter.process.stdout?.destroy();

  await startActor(remote, { mode: 'listen', address: remote.ipv4, port: 8080 });
  await startActor(host, { mode: 'connect', host: remote.ipv4, port: 8080, count: 3 });
  await waitFor(
    () => /the event log stopped: stdout failed \(EPIPE\)/.test(exporter.stderr()),
    10_000,
  );
  await startActor(host, { mode: 'connect', host: remote.ipv4, port: 8080 });
  const metrics = await exporter.metrics();
  assert.equal(
    metrics.get('conntrack_open_connections{direction="outbound",host="192.0.2.2",port="8080"}'),
    4,
  );
  assert.ok((metrics.get('conntrack_exporter_event_log_dropped_lines_total') ?? 0) > 0);
  assert.equal(exporter.process.exitCode, null);
  assert.equal(await exporter.stop(), 0);
});
