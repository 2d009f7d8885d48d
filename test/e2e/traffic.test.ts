/**
 * The traffic counters against the kernel and the wire: known amounts sent
 * both ways between two namespaces, over IPv4 and IPv6, through a held
 * connection (its counts read while it lives) and through connections that
 * end (their final counts from the DESTROY event), compared with
 * `conntrack -L -o extended` and the DESTROY lines of `conntrack -E`, and
 * with the payload plus the TCP/IP headers of the packets counted.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import test from 'node:test';

import { setSysctls, waitForEqual, watchEvents } from '../helpers/events';
import { type ExporterProcess, seriesKey, startExporter } from '../helpers/exporter';
import { conntrackList, createTopology, type Namespace, waitFor } from '../helpers/netns';
import { type Actor, startActor } from '../helpers/tcp-actor';

const ACCT_FILE = path.join(
  __dirname,
  '..',
  '..',
  'deploy',
  'sysctl',
  '91-conntrack-exporter-acct.conf',
);
const MIB = 1024 * 1024;
const UP = 10 * MIB;
const DOWN = 1 * MIB;

/** One entry's counts as the kernel prints them: original direction, then reply. */
interface KernelCounts {
  origPackets: number;
  origBytes: number;
  replPackets: number;
  replBytes: number;
}

/** The counts of a `conntrack -L/-E -o extended` line; undefined when it has none (accounting was off). */
function countsOf(line: string): KernelCounts | undefined {
  const pairs = [...line.matchAll(/\bpackets=(\d+) bytes=(\d+)/g)].map(([, p, b]) => [
    Number(p),
    Number(b),
  ]);
  const [orig, repl] = pairs;
  if (orig === undefined || repl === undefined) return undefined;
  return { origPackets: orig[0]!, origBytes: orig[1]!, replPackets: repl[0]!, replBytes: repl[1]! };
}

/** The counts of the one entry to `port` now in the table (undefined: no counts). */
async function listedCounts(ns: Namespace, port: number): Promise<KernelCounts | undefined> {
  const result = await ns.exec([
    'conntrack',
    '-L',
    '-p',
    'tcp',
    '--dport',
    String(port),
    '-o',
    'extended',
  ]);
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.split('\n').filter((line) => line.includes(`dport=${port} `));
  assert.equal(lines.length, 1, `one entry to port ${port}: ${result.stdout}`);
  return countsOf(lines[0]!);
}

/** The traffic series an outbound connection to `peer`:`port` is counted in, as the kernel's counts imply. */
function expectedTraffic(peer: string, port: number, counts: KernelCounts): Map<string, number> {
  const labels = { direction: 'outbound', host: peer, port: String(port) };
  return new Map([
    [seriesKey('conntrack_sent_bytes_total', labels), counts.origBytes],
    [seriesKey('conntrack_sent_packets_total', labels), counts.origPackets],
    [seriesKey('conntrack_received_bytes_total', labels), counts.replBytes],
    [seriesKey('conntrack_received_packets_total', labels), counts.replPackets],
  ]);
}

/** The exporter's traffic series to `port`. */
function actualTraffic(metrics: Map<string, number>, port: number): Map<string, number> {
  return new Map(
    [...metrics].filter(
      ([key]) =>
        /^conntrack_(sent|received)_(bytes|packets)_total\{/.test(key) &&
        key.includes(`port="${port}"`),
    ),
  );
}

/** Sends `UP` bytes from `client` and `DOWN` bytes back from `server`, and waits until both arrived. */
async function exchange(client: Actor, server: Actor): Promise<void> {
  await Promise.all([client.send(UP), server.send(DOWN)]);
  await waitFor(
    async () => {
      const [[up], [down]] = await Promise.all([server.stats(), client.stats()]);
      return up?.receivedBytes === UP && down?.receivedBytes === DOWN;
    },
    60_000,
    'the payload to arrive both ways',
  );
}

/** TCP segments the namespace sent again (RetransSegs of /proc/net/snmp): counted by the kernel twice. */
async function retransmittedSegments(ns: Namespace): Promise<number> {
  const result = await ns.exec(['cat', '/proc/net/snmp']);
  const [names, values] = result.stdout.split('\n').filter((line) => line.startsWith('Tcp:'));
  const index = names!.split(' ').indexOf('RetransSegs');
  return Number(values!.split(' ')[index]);
}

/**
 * What the kernel counts is the IP packets: each one's payload plus its IP
 * header (20 bytes for IPv4, 40 for IPv6) and TCP header (20 bytes, up to
 * 60 with options), and a segment sent again counts again. So a
 * direction's bytes less its payload lie between packets x (IP + 20) and
 * packets x (IP + 60) plus, for each segment its sender sent again (a
 * loaded machine drops some on the veth), at most a whole 1500-byte packet.
 */
async function assertWireBytes(
  family: 'ipv4' | 'ipv6',
  counts: KernelCounts,
  senders: { original: Namespace; reply: Namespace },
): Promise<void> {
  const ip = family === 'ipv4' ? 20 : 40;
  for (const [payload, packets, bytes, sender] of [
    [UP, counts.origPackets, counts.origBytes, senders.original],
    [DOWN, counts.replPackets, counts.replBytes, senders.reply],
  ] as const) {
    const overhead = bytes - payload;
    const resent = await retransmittedSegments(sender);
    assert.ok(
      overhead >= packets * (ip + 20) && overhead <= packets * (ip + 60) + resent * 1500,
      `${bytes} bytes in ${packets} packets carry ${payload} bytes of payload (${resent} segments sent again)`,
    );
  }
}

async function waitForTraffic(
  exporter: ExporterProcess,
  port: number,
  expected: () => Promise<Map<string, number>>,
  what: string,
): Promise<void> {
  await waitForEqual(
    async () => [actualTraffic(await exporter.metrics(), port), await expected()],
    what,
    60_000,
  );
}

/** The last DESTROY line of the connection to `port` that `conntrack -E` printed. */
async function destroyed(ns: Namespace, lines: readonly string[], port: number): Promise<string> {
  return waitFor(
    async () => {
      // Reading the table makes the kernel drop expired entries at once.
      await conntrackList(ns);
      return lines.find((line) => line.includes('[DESTROY]') && line.includes(` dport=${port} `));
    },
    90_000,
    `the DESTROY of the connection to port ${port}`,
  );
}

for (const family of ['ipv4', 'ipv6'] as const) {
  test(`traffic of a held connection and of connections that end equals the kernel's counts (${family})`, async (t) => {
    const { host, remote } = await createTopology(t);
    const peer = family === 'ipv4' ? remote.ipv4 : remote.ipv6;
    await setSysctls(host, {
      'net.netfilter.nf_conntrack_acct': 1,
      // TIME_WAIT ends at once, so the kernel destroys ended entries within the test.
      'net.netfilter.nf_conntrack_tcp_timeout_time_wait': 1,
    });
    const heldServer = await startActor(remote, { mode: 'listen', address: peer, port: 8080 });
    const endingServer = await startActor(remote, { mode: 'listen', address: peer, port: 8081 });
    const exporter = await startExporter(host, [
      ...['--mode', 'events', '--no-resolve-hosts'],
      ...['--collector.traffic', '--traffic-interval', '1s'],
    ]);
    t.after(() => exporter.stop());
    const watcher = await watchEvents(host, ['-o', 'extended']);
    t.after(() => watcher.stop());

    // Held: its counts show while it lives, from the reads of the table.
    const held = await startActor(host, { mode: 'connect', host: peer, port: 8080 });
    await heldServer.waitForSockets(1);
    await exchange(held, heldServer);
    let live: KernelCounts | undefined;
    await waitForTraffic(
      exporter,
      8080,
      async () => {
        live = await listedCounts(host, 8080);
        return expectedTraffic(peer, 8080, live!);
      },
      'the held connection counted as conntrack -L counts it',
    );
    await assertWireBytes(family, live!, { original: host, reply: remote });
    // promtool is the reference for the exposition format and metric names.
    const check = spawnSync('promtool', ['check', 'metrics'], {
      input: await exporter.scrape(),
      encoding: 'utf8',
    });
    assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);

    // Ending: moves its bytes and ends; read or not while it lived, it
    // counts its final counts, once. The held one ends too.
    const ending = await startActor(host, { mode: 'connect', host: peer, port: 8081 });
    await endingServer.waitForSockets(1);
    await exchange(ending, endingServer);
    await Promise.all([ending.end(), held.end()]);
    for (const port of [8080, 8081]) {
      const final = countsOf(await destroyed(host, watcher.lines, port));
      assert.ok(final, 'the DESTROY event carries counts');
      await assertWireBytes(family, final, { original: host, reply: remote });
      await waitForTraffic(
        exporter,
        port,
        async () => expectedTraffic(peer, port, final),
        `the connection to port ${port} counted as its DESTROY event counts it`,
      );
    }
  });
}

for (const mode of ['dump', 'events'] as const) {
  test(`accounting turned on while connections are open: only those opened after count (${mode} mode)`, async (t) => {
    const { host, remote } = await createTopology(t);
    const peer = remote.ipv4;
    await setSysctls(host, { 'net.netfilter.nf_conntrack_acct': 0 });
    const before = await startActor(remote, { mode: 'listen', address: peer, port: 8080 });
    const after = await startActor(remote, { mode: 'listen', address: peer, port: 8081 });
    const exporter = await startExporter(host, [
      ...['--mode', mode, '--no-resolve-hosts', '--collector.traffic', '--traffic-interval', '1s'],
    ]);
    t.after(() => exporter.stop());
    assert.match(
      exporter.stderr(),
      /connection accounting is off \(net\.netfilter\.nf_conntrack_acct=0\).*sysctl -w net\.netfilter\.nf_conntrack_acct=1: only connections opened after that have counts/,
    );
    assert.doesNotMatch(await exporter.scrape(), /conntrack_(sent|received)_/);
    assert.match(await exporter.scrape('/'), /traffic accounting<\/th><td>off/);

    const old = await startActor(host, { mode: 'connect', host: peer, port: 8080 });
    await before.waitForSockets(1);
    // Turned on as an operator would, with the file the project ships.
    const applied = await host.exec(['sysctl', '-p', ACCT_FILE]);
    assert.equal(applied.code, 0, applied.stderr);
    const young = await startActor(host, { mode: 'connect', host: peer, port: 8081 });
    await after.waitForSockets(1);
    await Promise.all([exchange(old, before), exchange(young, after)]);

    // The kernel gives an entry its counters when it creates it.
    assert.equal(await listedCounts(host, 8080), undefined);
    await waitForTraffic(
      exporter,
      8081,
      async () => expectedTraffic(peer, 8081, (await listedCounts(host, 8081))!),
      'the connection opened after accounting was turned on counted as conntrack -L counts it',
    );
    const metrics = await exporter.metrics();
    assert.deepEqual([...actualTraffic(metrics, 8080)], []);
    assert.match(await exporter.scrape('/'), /traffic accounting<\/th><td>on/);
  });
}
