/**
 * The kernel's conntrack statistics as the exporter serves them
 * (conntrack_kernel_stat_*_total), against `conntrack -S` in the same
 * namespace: in its own namespace in both modes, and in a watched one
 * (--netns) whose table is full, where a new connection finds no room.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import test from 'node:test';

import { fillerFlows, insertEntries } from '../helpers/conntrack-load';
import { conntrackStats } from '../helpers/conntrack-stats';
import { startExporter } from '../helpers/exporter';
import { createNamespace, waitFor, type Namespace } from '../helpers/netns';

const STAT = /^conntrack_kernel_stat_(\w+)_total$/;
// Filling takes conntrack about 11 s per 262,144 entries (the usual
// nf_conntrack_max) on an idle machine; beyond this many, it is skipped.
const MOST_TO_FILL = 1_100_000;

/** The statistics a scrape served, by the name conntrack -S gives them. */
function servedStats(series: Map<string, number>): Record<string, number> {
  const stats: Record<string, number> = {};
  for (const [key, value] of series) {
    const match = STAT.exec(key);
    if (match) stats[match[1]!] = value;
  }
  return stats;
}

async function mustExec(ns: Namespace, cmd: string[]): Promise<string> {
  const result = await ns.exec(cmd);
  assert.equal(result.code, 0, `${cmd.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/**
 * Makes the kernel count packets as invalid: with loose pick-up off, data
 * on a connection whose entry was deleted fits no state.
 */
async function invalidPackets(ns: Namespace): Promise<void> {
  await mustExec(ns, ['sysctl', '-qw', 'net.netfilter.nf_conntrack_tcp_loose=0']);
  const child = ns.spawn([
    process.execPath,
    '-e',
    `const net = require('node:net');
     const server = net.createServer((socket) => socket.on('data', () => undefined));
     server.listen(0, '127.0.0.1', () => {
       const client = net.connect(server.address().port, '127.0.0.1', () => {
         console.log(server.address().port);
         process.stdin.once('data', () => client.write('x', () => setTimeout(() => process.exit(0), 300)));
       });
     });`,
  ]);
  child.stdout!.setEncoding('utf8');
  const [port] = (await once(child.stdout!, 'data')) as [string];
  await mustExec(ns, ['conntrack', '-D', '-p', 'tcp', '--dport', port.trim()]);
  child.stdin!.write('go\n');
  await once(child, 'exit');
}

test('in its own namespace, every statistic lies between two conntrack -S around the scrape, in both modes', async (t) => {
  const ns = await createNamespace(t);
  await insertEntries(
    ns,
    Array.from({ length: 20 }, (_, i) => ({
      ...{ src: '127.0.0.1', dst: '198.51.100.1', sport: 40000 + i, dport: 443 },
      state: 'ESTABLISHED',
    })),
  );
  await invalidPackets(ns);
  for (const mode of ['events', 'dump']) {
    const exporter = await startExporter(ns, ['--mode', mode, '--no-resolve-hosts']);
    // Scrapes travel over this namespace's loopback, so the kernel may count
    // while the exporter reads: a reading taken between two listings lies
    // between them, statistic by statistic.
    const before = await conntrackStats(ns);
    const served = servedStats(await exporter.metrics());
    const after = await conntrackStats(ns);
    assert.deepEqual(Object.keys(served).sort(), Object.keys(before.totals).sort(), mode);
    for (const [name, value] of Object.entries(served)) {
      const [low, high] = [before.totals[name]!, after.totals[name]!];
      assert.ok(low <= value && value <= high, `${mode}: ${name} ${low} <= ${value} <= ${high}`);
    }
    assert.ok(served.insert! >= 20, `${mode}: insert ${served.insert}`);
    assert.ok(served.invalid! >= 1, `${mode}: invalid ${served.invalid}`);
    assert.equal(await exporter.stop(), 0);
  }
});

test('a full watched table (--netns): a new connection raises drop; every statistic equals conntrack -S there', async (t) => {
  const [watched, agent] = await Promise.all([createNamespace(t), createNamespace(t)]);
  // nf_conntrack_max is the whole kernel's, read-only in any namespace but
  // the first: the table is filled to it with assured entries, which the
  // kernel may not evict to make room (so the refusal is a drop, not an
  // early_drop). The namespace's own count is what reaches it.
  const max = Number(await mustExec(watched, ['cat', '/proc/sys/net/netfilter/nf_conntrack_max']));
  if (max > MOST_TO_FILL) {
    t.skip(`nf_conntrack_max is ${max}: filling a table that large takes too long here`);
    return;
  }
  const held = Number(
    await mustExec(watched, ['cat', '/proc/sys/net/netfilter/nf_conntrack_count']),
  );
  await insertEntries(watched, fillerFlows(max - held, '198.51.100.1', 'ASSURED'));
  assert.equal(
    Number(await mustExec(watched, ['cat', '/proc/sys/net/netfilter/nf_conntrack_count'])),
    max,
  );

  const exporter = await startExporter(
    agent,
    ['--netns', `/var/run/netns/${watched.name}`, '--mode', 'events', '--no-resolve-hosts'],
    { startTimeoutMs: 120_000 },
  );
  // Nothing moves in the watched namespace while these are read (the
  // scrapes travel in the agent's): the exporter and conntrack -S agree exactly.
  const agree = async () => {
    const listing = await conntrackStats(watched);
    const served = servedStats(await exporter.metrics());
    assert.deepEqual(served, listing.totals);
    assert.deepEqual((await conntrackStats(watched)).totals, listing.totals, 'still quiet');
    return served;
  };
  const full = await agree();
  assert.ok(full.insert! >= max - held);

  // The SYN (and its retransmissions) find no room in the table.
  const attempt = await watched.exec(['curl', '-s', '--max-time', '2', 'http://127.0.0.1:9/']);
  assert.notEqual(attempt.code, 0);
  await waitFor(
    async () => (servedStats(await exporter.metrics()).drop ?? 0) > full.drop!,
    30_000,
    'conntrack_kernel_stat_drop_total rising',
  );
  const refused = await agree();
  assert.ok(refused.drop! > full.drop!);
  assert.equal(refused.early_drop, full.early_drop, 'assured entries are not evicted');
  assert.equal(await exporter.stop(), 0);
});
