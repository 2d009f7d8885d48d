/**
 * The exporter against real TCP connections in every state, over IPv4 and
 * IPv6, between two namespaces standing for this host and a remote host.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { isDeepStrictEqual } from 'node:util';

import { CLI, parseExposition, pick, seriesKey, startExporter } from '../helpers/exporter';
import {
  conntrackList,
  createTopology,
  dropTcpPort,
  keepTimeWait,
  waitFor,
  type Namespace,
} from '../helpers/netns';
import { startActor, type ConnectOutcome, type ListenBehaviour } from '../helpers/tcp-actor';

const CONNECTION_METRICS = /^conntrack_(opening|open|closing|closed)_connections$/;
const LEGACY_METRICS = /^conntrack_(opening|open|closing|closed)_connections_total$/;
const PHASES = ['opening', 'open', 'closing', 'closed'] as const;
type Phase = (typeof PHASES)[number];
type Family = 'ipv4' | 'ipv6';

const address = (ns: Namespace, family: Family) => (family === 'ipv4' ? ns.ipv4 : ns.ipv6);

/** What the host does towards one remote port, and how many connections it leaves there. */
interface Scenario {
  port: number;
  listener?: ListenBehaviour;
  outcome: ConnectOutcome;
  count: Record<Family, number>;
  phase: Phase;
}

const OUTBOUND: Scenario[] = [
  { port: 5432, listener: 'hold', outcome: 'hold', count: { ipv4: 3, ipv6: 2 }, phase: 'open' },
  { port: 7000, outcome: 'syn', count: { ipv4: 2, ipv6: 1 }, phase: 'opening' },
  {
    port: 5433,
    listener: 'hold',
    outcome: 'timewait',
    count: { ipv4: 1, ipv6: 1 },
    phase: 'closing',
  },
  {
    port: 6000,
    listener: 'close',
    outcome: 'closewait',
    count: { ipv4: 1, ipv6: 2 },
    phase: 'closing',
  },
  { port: 5434, listener: 'hold', outcome: 'reset', count: { ipv4: 1, ipv6: 1 }, phase: 'closed' },
];
const INBOUND_PORT = 8080;
const INBOUND_COUNT: Record<Family, number> = { ipv4: 2, ipv6: 1 };

/** dist/cli.js under the C++ original's name, as npm links it; removed after the test. */
function originalName(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'cte-bin-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const program = path.join(dir, 'conntrack_exporter');
  symlinkSync(CLI, program);
  return program;
}

function zeroCounts(): Record<Phase, number> {
  return { opening: 0, open: 0, closing: 0, closed: 0 };
}

test('exact per-host series for real connections in every state, IPv4 and IPv6', async (t) => {
  const { host, remote } = await createTopology(t);
  await dropTcpPort(remote, 7000);
  await keepTimeWait(remote, 5433);

  // Expected counts per (direction, remote address, port), built from what we create.
  const expected = new Map<
    string,
    { host: string; port: number; direction: string; counts: Record<Phase, number> }
  >();
  const expect = (
    direction: string,
    remoteAddress: string,
    port: number,
    phase: Phase,
    n: number,
  ) => {
    const key = `${direction}|${remoteAddress}|${port}`;
    const group = expected.get(key) ?? {
      host: remoteAddress,
      port,
      direction,
      counts: zeroCounts(),
    };
    group.counts[phase] += n;
    expected.set(key, group);
  };

  for (const family of ['ipv4', 'ipv6'] as const) {
    const remoteAddress = address(remote, family);
    for (const scenario of OUTBOUND) {
      if (scenario.listener) {
        await startActor(remote, {
          mode: 'listen',
          address: remoteAddress,
          port: scenario.port,
          behaviour: scenario.listener,
        });
      }
      await startActor(host, {
        mode: 'connect',
        host: remoteAddress,
        port: scenario.port,
        count: scenario.count[family],
        outcome: scenario.outcome,
      });
      expect('outbound', remoteAddress, scenario.port, scenario.phase, scenario.count[family]);
    }
    const server = await startActor(host, {
      mode: 'listen',
      address: address(host, family),
      port: INBOUND_PORT,
    });
    await startActor(remote, {
      mode: 'connect',
      host: address(host, family),
      port: INBOUND_PORT,
      count: INBOUND_COUNT[family],
    });
    await server.waitForSockets(INBOUND_COUNT[family]);
    expect('inbound', remoteAddress, INBOUND_PORT, 'open', INBOUND_COUNT[family]);
  }

  const expectedSeries = new Map<string, number>();
  for (const group of expected.values()) {
    for (const phase of PHASES) {
      const labels = { host: group.host, port: String(group.port), direction: group.direction };
      expectedSeries.set(seriesKey(`conntrack_${phase}_connections`, labels), group.counts[phase]);
    }
  }

  await t.test('current metric names: every series has its exact value', async (t) => {
    const exporter = await startExporter(host, []);
    t.after(() => exporter.stop());
    let actual = new Map<string, number>();
    // Closing handshakes finish a moment after the actors report; poll, then assert.
    await waitFor(
      async () => {
        actual = pick(await exporter.metrics(), CONNECTION_METRICS);
        return isDeepStrictEqual(actual, expectedSeries);
      },
      60_000,
      'the expected series',
    ).catch(() => undefined);
    // On a mismatch, the kernel's own view tells which side is wrong.
    if (!isDeepStrictEqual(actual, expectedSeries)) {
      const states = (await conntrackList(host)).map(
        (entry) =>
          `${entry.state} ${entry.original.src} ${entry.original.dst} ${entry.original.dport}`,
      );
      assert.deepEqual(actual, expectedSeries, `the kernel's table:\n${states.join('\n')}`);
    }

    const all = await exporter.metrics();
    assert.equal(
      all.get(seriesKey('conntrack_exporter_scrape_collector_success', { collector: 'conntrack' })),
      1,
    );
    // The kernel's count: the 18 connections made here, and the scrapes'
    // own (in TIME_WAIT for the whole test).
    const table = await conntrackList(host);
    const own = table.filter((entry) => entry.original.dport === 9318).length;
    assert.equal(table.length - own, 18);
    assert.equal(all.get('conntrack_table_entries'), table.length);
    assert.ok((all.get('conntrack_table_entries_limit') ?? 0) > 0);
    assert.equal(
      [...all.keys()].filter((key) => key.startsWith('conntrack_exporter_build_info{')).length,
      1,
    );

    // promtool is the reference for the exposition format.
    const check = spawnSync('promtool', ['check', 'metrics'], {
      input: await exporter.scrape(),
      encoding: 'utf8',
    });
    assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
    assert.equal(await exporter.stop(), 0);
  });

  await t.test('legacy metric names: summed per remote host, label host only', async (t) => {
    const exporter = await startExporter(host, ['--legacy-metric-names']);
    t.after(() => exporter.stop());
    const legacy = new Map<string, number>();
    for (const group of expected.values()) {
      for (const phase of PHASES) {
        const key = seriesKey(`conntrack_${phase}_connections_total`, { host: group.host });
        legacy.set(key, (legacy.get(key) ?? 0) + group.counts[phase]);
      }
    }
    assert.deepEqual(pick(await exporter.metrics(), LEGACY_METRICS), legacy);
    assert.equal(pick(await exporter.metrics(), CONNECTION_METRICS).size, 0);
    assert.equal(await exporter.stop(), 0);
  });

  await t.test(
    'conntrack_exporter: the v0.3.1 layout, host="address:port", only non-zero samples',
    async (t) => {
      const expectedOriginal = new Map<string, number>();
      for (const group of expected.values()) {
        // Inbound: the local service port (8080), not the client's port.
        const hostPort = group.host.includes(':')
          ? `[${group.host}]:${group.port}`
          : `${group.host}:${group.port}`;
        for (const phase of PHASES) {
          if (group.counts[phase] === 0) continue;
          const key = seriesKey(`conntrack_${phase}_connections`, { host: hostPort });
          expectedOriginal.set(key, (expectedOriginal.get(key) ?? 0) + group.counts[phase]);
        }
      }
      // Written out once, so that a mistake in the lines above cannot hide one in the exporter.
      assert.equal(
        expectedOriginal.get(seriesKey('conntrack_open_connections', { host: '192.0.2.2:8080' })),
        2,
      );
      assert.equal(
        expectedOriginal.get(
          seriesKey('conntrack_opening_connections', { host: '[2001:db8::2]:7000' }),
        ),
        1,
      );
      const program = originalName(t);
      for (const args of [[], ['--metric-layout', 'v0.3']]) {
        const exporter = await startExporter(host, args, {
          program: args.length === 0 ? program : CLI,
        });
        t.after(() => exporter.stop());
        assert.deepEqual(pick(await exporter.metrics(), CONNECTION_METRICS), expectedOriginal);
        const text = await exporter.scrape();
        assert.doesNotMatch(text, /^conntrack_\w+_connections\{[^}]*\} 0$/m);
        assert.doesNotMatch(text, /^conntrack_\w+_connections_total/m);
        assert.equal(await exporter.stop(), 0);
      }
    },
  );

  await t.test("--include-own-port counts the scrape's own connection", async (t) => {
    const exporter = await startExporter(host, ['--include-own-port']);
    t.after(() => exporter.stop());
    const own = { host: '127.0.0.1', port: '9318', direction: 'outbound' };
    const series = await exporter.metrics();
    assert.equal(series.get(seriesKey('conntrack_open_connections', own)), 1);
    // And every other series is as before.
    const others = new Map(
      [...pick(series, CONNECTION_METRICS)].filter(([key]) => !key.includes('host="127.0.0.1"')),
    );
    assert.deepEqual(others, expectedSeries);
    assert.equal(await exporter.stop(), 0);
  });

  await t.test('the landing page links to the metrics', async (t) => {
    const exporter = await startExporter(host, ['--listen-path', '/custom']);
    t.after(() => exporter.stop());
    assert.match(await exporter.scrape('/'), /href="\/custom"/);
    assert.ok(parseExposition(await exporter.scrape('/custom')).size > 0);
    assert.equal(await exporter.stop(), 0);
  });
});
