/**
 * The exporter against synthetic tables: it only reads (the table is the
 * same after it ran), counts exactly what the table holds, and follows
 * entries that go away.
 */
import assert from 'node:assert/strict';
import test from 'node:test';

import { pick, seriesKey, startExporter } from '../helpers/exporter';
import { createNamespace, waitFor, type Namespace } from '../helpers/netns';

const CONNECTION_METRICS = /^conntrack_(opening|open|closing|closed)_connections$/;

async function mustExec(ns: Namespace, cmd: string[]): Promise<string> {
  const result = await ns.exec(cmd);
  assert.equal(result.code, 0, `${cmd.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/**
 * A namespace whose own traffic is not tracked (its ruleset is removed), so
 * the table holds only the entries a test inserts, and scraping adds none.
 */
async function untrackedNamespace(t: test.TestContext): Promise<Namespace> {
  const ns = await createNamespace(t);
  await mustExec(ns, ['nft', 'flush', 'ruleset']);
  return ns;
}

function insert(
  ns: Namespace,
  src: string,
  dst: string,
  sport: number,
  dport: number,
  state: string,
) {
  return mustExec(ns, [
    ...['conntrack', '-I', '-p', 'tcp', '-s', src, '-d', dst],
    ...['--sport', String(sport), '--dport', String(dport), '--state', state, '-t', '600'],
  ]);
}

/** The table without the timeouts, which tick down: what must not change. */
async function tableContents(ns: Namespace): Promise<string[]> {
  const listing = await mustExec(ns, ['conntrack', '-L', '-o', 'extended,id']);
  return listing
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.replace(/^(\S+\s+\d+\s+\S+\s+\d+\s+)\d+ /, '$1'))
    .sort();
}

test('read-only: the table is unchanged after start-up and several scrapes', async (t) => {
  const ns = await untrackedNamespace(t);
  const states = ['ESTABLISHED', 'SYN_SENT', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT'];
  for (let i = 0; i < 40; i++) {
    const state = states[i % states.length]!;
    if (i % 2 === 0) await insert(ns, '127.0.0.1', `198.51.100.${i + 1}`, 30000 + i, 443, state);
    else await insert(ns, '::1', `2001:db8::${(i + 1).toString(16)}`, 30000 + i, 443, state);
  }
  await mustExec(ns, [
    'conntrack',
    '-I',
    '-p',
    'udp',
    '-s',
    '127.0.0.1',
    '-d',
    '198.51.100.99',
    '--sport',
    '53',
    '--dport',
    '53',
    '-t',
    '600',
  ]);
  const before = await tableContents(ns);
  const countBefore = (await mustExec(ns, ['conntrack', '-C'])).trim();
  assert.equal(before.length, 41);

  const exporter = await startExporter(ns, []);
  let series = new Map<string, number>();
  for (let i = 0; i < 5; i++) series = await exporter.metrics();
  assert.equal(await exporter.stop(), 0);

  assert.equal((await mustExec(ns, ['conntrack', '-C'])).trim(), countBefore);
  assert.deepEqual(await tableContents(ns), before);

  // Every TCP entry is counted once; the UDP one is not.
  const connections = [...pick(series, CONNECTION_METRICS).values()].reduce((a, b) => a + b, 0);
  assert.equal(connections, 40);
  assert.equal(series.get('conntrack_table_entries'), 41);
  assert.equal(
    series.get(
      seriesKey('conntrack_open_connections', {
        host: '198.51.100.1',
        port: '443',
        direction: 'outbound',
      }),
    ),
    1,
  );
  assert.equal(
    series.get(
      seriesKey('conntrack_opening_connections', {
        host: '2001:db8::2',
        port: '443',
        direction: 'outbound',
      }),
    ),
    1,
  );
});

// Entries inserted before the exporter starts send no events when deleted
// through netlink: dump mode sees them gone at the next scrape, events mode
// once its background check finds them gone (within --silent-check-interval).
for (const [mode, args] of [
  ['dump', ['--mode', 'dump']],
  ['events', ['--silent-check-interval', '1s']],
] as const) {
  test(`${mode} mode: a host whose connections are gone disappears`, async (t) => {
    const ns = await untrackedNamespace(t);
    await insert(ns, '127.0.0.1', '198.51.100.7', 40000, 5432, 'ESTABLISHED');
    await insert(ns, '127.0.0.1', '198.51.100.8', 40001, 5432, 'ESTABLISHED');
    const exporter = await startExporter(ns, [...args]);
    const hosts = async () =>
      new Set(
        [...pick(await exporter.metrics(), CONNECTION_METRICS).keys()].map(
          (key) => /host="([^"]+)"/.exec(key)?.[1],
        ),
      );
    assert.deepEqual(await hosts(), new Set(['198.51.100.7', '198.51.100.8']));
    await mustExec(ns, ['conntrack', '-D', '-d', '198.51.100.7']);
    const left = new Set(['198.51.100.8']);
    if (mode === 'dump') {
      assert.deepEqual(await hosts(), left);
    } else {
      let seen = await hosts();
      // The promise is one check interval (1 s here); the bound allows a loaded machine.
      await waitFor(
        async () => (seen = await hosts()).size === 1,
        30_000,
        'the deleted host gone',
      ).catch(() => undefined);
      assert.deepEqual(seen, left);
    }
    assert.equal(await exporter.stop(), 0);
  });
}

test('an empty table: a successful scrape with no connection series, and a hint at start', async (t) => {
  const ns = await untrackedNamespace(t);
  const exporter = await startExporter(ns, []);
  const series = await exporter.metrics();
  assert.equal(pick(series, CONNECTION_METRICS).size, 0);
  assert.equal(
    series.get(
      seriesKey('conntrack_exporter_scrape_collector_success', { collector: 'conntrack' }),
    ),
    1,
  );
  assert.equal(series.get('conntrack_table_entries'), 0);
  assert.match(
    exporter.stderr(),
    /the conntrack table is empty: the kernel only tracks connections once a firewall rule uses conntrack/,
  );
  assert.equal(await exporter.stop(), 0);
});
