/**
 * Long-lived connections to this host's ports, counted by the exporter and
 * by the tcp_established_exporter drop-in, over real connections.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import test, { type TestContext } from 'node:test';

import { pick, seriesKey, startExporter } from '../helpers/exporter';
import { createTopology, waitFor, type Namespace, type Topology } from '../helpers/netns';
import { startActor, type Actor } from '../helpers/tcp-actor';
import { scratchDir } from '../helpers/scratch';

const DROP_IN = path.join(__dirname, '..', '..', 'dist', 'bin', 'tcp-established-exporter.js');
const LONGTERM = /^conntrack_longterm_connections$/;
/** What the drop-in serves besides the process_* metrics every command has. */
const NOT_PROCESS = /^(?!process_)/;
// Long enough that a scrape right after a connection opens usually still
// finds it young on a loaded machine; where it came later, the "young" check
// is left out (see youngUntil), never guessed.
const DURATION = 5;

/** Inbound connections from the remote namespace to servers in the host namespace. */
async function connectInbound(
  topology: Topology,
  family: 'ipv4' | 'ipv6',
  port: number,
  count: number,
): Promise<Actor> {
  const { host, remote } = topology;
  const address = family === 'ipv4' ? host.ipv4 : host.ipv6;
  const server = await startActor(host, { mode: 'listen', address, port });
  const clients = await startActor(remote, { mode: 'connect', host: address, port, count });
  await server.waitForSockets(count);
  return clients;
}

/** Polls the exporter until `series` equals `expected` (or times out), then asserts it. */
async function expectSeries(
  read: () => Promise<Map<string, number>>,
  expected: Map<string, number>,
): Promise<void> {
  let actual = new Map<string, number>();
  await waitFor(
    async () => {
      actual = await read();
      return JSON.stringify([...actual].sort()) === JSON.stringify([...expected].sort());
    },
    (DURATION + 60) * 1000,
    'the expected long-term series',
  ).catch(() => undefined);
  assert.deepEqual(actual, expected);
}

/**
 * Whether a scrape that has just returned certainly saw connections first
 * seen at or after `since` as younger than DURATION; otherwise what it
 * counted for them may rightly be either.
 */
function youngUntil(since: number, t: TestContext, what: string): boolean {
  const young = Date.now() - since < DURATION * 1000;
  if (!young) t.diagnostic(`${what}: the scrape came after ${DURATION} s, so it is not checked`);
  return young;
}

const longterm = (port: number, version: '4' | '6') =>
  seriesKey('conntrack_longterm_connections', { port: String(port), tcp_version: version });

test('long-term connections per port and IP version; young, closed and own-port ones excluded', async (t) => {
  const topology = await createTopology(t);
  await connectInbound(topology, 'ipv4', 8080, 2);
  await connectInbound(topology, 'ipv6', 8080, 1);
  const toClose = await connectInbound(topology, 'ipv4', 8081, 2);
  const args = [
    '--no-resolve-hosts',
    '--longterm',
    '--longterm-duration',
    String(DURATION),
    // The connections made before the start may send no events: checked every second.
    '--silent-check-interval',
    '1s',
  ];
  const started = Date.now();
  const exporter = await startExporter(topology.host, args);
  // A connection to the exporter's own port, old enough, is never counted.
  await startActor(topology.remote, { mode: 'connect', host: topology.host.ipv4, port: 9318 });
  const read = async () => pick(await exporter.metrics(), LONGTERM);

  // Just started: nothing has been seen for DURATION seconds yet.
  const first = await read();
  if (youngUntil(started, t, 'just started')) assert.deepEqual(first, new Map());
  await expectSeries(
    read,
    new Map([
      [longterm(8080, '4'), 2],
      [longterm(8080, '6'), 1],
      [longterm(8081, '4'), 2],
    ]),
  );
  assert.match(
    await exporter.scrape(),
    new RegExp(
      String.raw`# HELP conntrack_longterm_connections TCP connections to this host's ports established for at least ${DURATION} s, per local port and IP version; ages from when the exporter first saw the connection \(nf_conntrack_timestamp is off\)\.`,
    ),
  );

  // A young connection is not counted; a reset one drops out.
  const opened = Date.now();
  await connectInbound(topology, 'ipv4', 8082, 1);
  await toClose.reset();
  const now = await read();
  if (youngUntil(opened, t, 'the young connection')) {
    assert.equal(now.get(longterm(8082, '4')), undefined);
  }
  // The reset ones drop out (once their change reaches the exporter: an
  // event, or the background check for entries that send none) and the
  // young one is counted once it is old enough.
  await expectSeries(
    read,
    new Map([
      [longterm(8080, '4'), 2],
      [longterm(8080, '6'), 1],
      [longterm(8082, '4'), 1],
    ]),
  );
  assert.equal(await exporter.stop(), 0);
});

test('--longterm-simple, --longterm-port and --no-longterm-tcpv6', async (t) => {
  const topology = await createTopology(t);
  await connectInbound(topology, 'ipv4', 8080, 2);
  await connectInbound(topology, 'ipv6', 8080, 1);
  await connectInbound(topology, 'ipv4', 8081, 1);
  const base = ['--no-resolve-hosts', '--longterm', '--longterm-duration', '1'];

  const simple = await startExporter(topology.host, [...base, '--longterm-simple']);
  await expectSeries(
    async () => pick(await simple.metrics(), LONGTERM),
    new Map([['conntrack_longterm_connections', 4]]),
  );
  assert.equal(await simple.stop(), 0);

  const filtered = await startExporter(topology.host, [
    ...base,
    '--longterm-port',
    '8080',
    '--no-longterm-tcpv6',
  ]);
  await expectSeries(
    async () => pick(await filtered.metrics(), LONGTERM),
    new Map([[longterm(8080, '4'), 2]]),
  );
  assert.equal(await filtered.stop(), 0);
});

/** Starts the drop-in in `ns` as users would, on its own port 9690. */
function startDropIn(ns: Namespace, args: string[], env: Record<string, string> = {}) {
  return startExporter(ns, args, { program: DROP_IN, port: 9690, listenArgs: [], env });
}

test("tcp_established_exporter: the original's three command lines, verbatim", async (t) => {
  const topology = await createTopology(t);
  await connectInbound(topology, 'ipv4', 3838, 2);
  await connectInbound(topology, 'ipv6', 3838, 1);
  const dir = scratchDir('cte-longterm-');
  const sample = path.join(dir, 'sample.conf');
  writeFileSync(sample, 'simple true\ntcpv6 true\n');

  const ways: [string, string[], Record<string, string>][] = [
    ['flags', ['--simple=true', '--tcpv6=true'], {}],
    ['config file', ['--conf', sample], {}],
    ['environment', [], { SIMPLE: 'true', TCPV6: 'true' }],
  ];
  for (const [way, args, env] of ways) {
    const dropIn = await startDropIn(topology.host, args, env);
    // Only the original's metric, unlabelled in simple mode, counting all three after 6 s.
    await waitFor(
      async () => (await dropIn.metrics()).get('netstat_tcp_longterm_connections_total') === 3,
      60_000,
      way,
    ).catch(() => undefined);
    assert.deepEqual(
      pick(await dropIn.metrics(), NOT_PROCESS),
      new Map([['netstat_tcp_longterm_connections_total', 3]]),
      way,
    );
    const landing = await dropIn.scrape('/');
    assert.match(landing, /simple<\/th><td>true/, way);
    assert.match(landing, /tcpv6<\/th><td>true/, way);
    assert.match(landing, /duration<\/th><td>6/, way);
    assert.equal(await dropIn.stop(), 0, way);
  }
});

test('tcp_established_exporter: labelled by port and IP version by default; precedence', async (t) => {
  const topology = await createTopology(t);
  await connectInbound(topology, 'ipv4', 3838, 1);
  await connectInbound(topology, 'ipv6', 3838, 1);
  const dir = scratchDir('cte-longterm-');
  const conf = path.join(dir, 'exporter.conf');
  writeFileSync(conf, 'duration 600\ntcpv6 false\n');
  // The flag beats the environment, which beats the file: duration 1, IPv6 counted.
  const dropIn = await startDropIn(topology.host, ['--conf', conf, '-duration', '1'], {
    DURATION: '300',
    TCPV6: 'true',
  });
  const expected = new Map([
    [seriesKey('netstat_tcp_longterm_connections_total', { port: '3838', tcp_version: '4' }), 1],
    [seriesKey('netstat_tcp_longterm_connections_total', { port: '3838', tcp_version: '6' }), 1],
  ]);
  await expectSeries(async () => pick(await dropIn.metrics(), NOT_PROCESS), expected);
  assert.equal(await dropIn.stop(), 0);
});

test('tcp_established_exporter: bad input is one line and exit code 2', async (t) => {
  const topology = await createTopology(t);
  for (const [args, message] of [
    [['--simpel=true'], /^tcp_established_exporter: flag provided but not defined: -simpel$/],
    [
      ['--duration', 'long'],
      /^tcp_established_exporter: flag -duration: 'duration' must be a number, got 'long'$/,
    ],
    [
      ['--conf', '/nonexistent.conf'],
      /^tcp_established_exporter: cannot read config file \/nonexistent\.conf/,
    ],
  ] as const) {
    const result = await topology.host.exec([process.execPath, DROP_IN, ...args]);
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
    assert.match(result.stderr.trimEnd(), message);
  }
});

test('with nf_conntrack_timestamp on, ages come from the kernel: older connections count at once', async (t) => {
  const topology = await createTopology(t);
  const sysctl = await topology.host.exec([
    'sysctl',
    '-w',
    'net.netfilter.nf_conntrack_timestamp=1',
  ]);
  assert.equal(sysctl.code, 0, sysctl.stderr);
  await connectInbound(topology, 'ipv4', 8080, 2);
  // Older than the duration before the exporter even starts: what is waited
  // for is the passing of time itself.
  await new Promise((resolve) => setTimeout(resolve, (DURATION + 1) * 1000));
  for (const [index, mode] of ['events', 'dump'].entries()) {
    // And one the kernel stamps just now, which must not count as old: a
    // misread start time would make it as old as the others, or older.
    const youngPort = 8081 + index;
    const opened = Date.now();
    await connectInbound(topology, 'ipv4', youngPort, 1);
    const exporter = await startExporter(topology.host, [
      ...[
        '--no-resolve-hosts',
        '--mode',
        mode,
        '--longterm',
        '--longterm-duration',
        String(DURATION),
      ],
    ]);
    const text = await exporter.scrape();
    assert.match(
      text,
      /ages from the kernel's start timestamp \(nf_conntrack_timestamp is on\)/,
      mode,
    );
    const counted = pick(await exporter.metrics(), LONGTERM);
    assert.equal(counted.get(longterm(8080, '4')), 2, mode);
    if (youngUntil(opened, t, mode)) assert.equal(counted.get(longterm(youngPort, '4')), undefined);
    assert.equal(await exporter.stop(), 0);
  }
});

/** Connections from this host to its own servers, over loopback. */
async function connectLoopback(ns: Namespace, address: string, port: number, count: number) {
  const server = await startActor(ns, { mode: 'listen', address, port });
  await startActor(ns, { mode: 'connect', host: address, port, count });
  await server.waitForSockets(count);
}

test('loopback connections to a local port count once, on the server side, in every mode', async (t) => {
  const topology = await createTopology(t);
  await connectLoopback(topology.host, '127.0.0.1', 3838, 2);
  await connectLoopback(topology.host, '::1', 3839, 1);
  const expected = (name: string) =>
    new Map([
      [seriesKey(name, { port: '3838', tcp_version: '4' }), 2],
      [seriesKey(name, { port: '3839', tcp_version: '6' }), 1],
    ]);
  const dropIn = await startDropIn(topology.host, ['-duration', '1']);
  await expectSeries(
    async () => pick(await dropIn.metrics(), /^netstat_/),
    expected('netstat_tcp_longterm_connections_total'),
  );
  assert.equal(await dropIn.stop(), 0);
  for (const mode of ['events', 'dump']) {
    const exporter = await startExporter(topology.host, [
      '--longterm',
      '--longterm-duration',
      '1',
      '--mode',
      mode,
    ]);
    await expectSeries(
      async () => pick(await exporter.metrics(), LONGTERM),
      expected('conntrack_longterm_connections'),
    );
    assert.equal(await exporter.stop(), 0, mode);
  }
});

test('tcp_established_exporter: the settings file from -config, --config, CONFIG or --conf', async (t) => {
  const topology = await createTopology(t);
  await connectInbound(topology, 'ipv4', 3838, 1);
  const dir = scratchDir('cte-longterm-');
  const conf = path.join(dir, 'exporter.conf');
  writeFileSync(conf, 'simple true\nduration 1\n');
  const ways: [string, string[], Record<string, string>][] = [
    ['-config', ['-config', conf], {}],
    ['--config', [`--config=${conf}`], {}],
    ['CONFIG', [], { CONFIG: conf }],
    ['--conf', ['--conf', conf], {}],
  ];
  for (const [way, args, env] of ways) {
    const dropIn = await startDropIn(topology.host, args, env);
    await expectSeries(
      async () => pick(await dropIn.metrics(), NOT_PROCESS),
      new Map([['netstat_tcp_longterm_connections_total', 1]]),
    );
    assert.match(await dropIn.scrape('/'), /simple<\/th><td>true/, way);
    assert.equal(await dropIn.stop(), 0, way);
  }
  const missing = await topology.host.exec([
    'env',
    'CONFIG=/nonexistent.conf',
    process.execPath,
    DROP_IN,
  ]);
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(
    missing.stderr.trimEnd(),
    /^tcp_established_exporter: cannot read config file \/nonexistent\.conf: .*; check the path given to the environment variable CONFIG$/,
  );
});
