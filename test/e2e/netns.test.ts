/**
 * --netns: an exporter in one namespace (an agent) watches another
 * namespace's table (a container), without sharing it.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { isDeepStrictEqual } from 'node:util';

import { conntrackCount } from '../helpers/events';
import { CLI, pick, seriesKey, startExporter } from '../helpers/exporter';
import { createNamespace, createTopology, waitFor } from '../helpers/netns';
import { startActor } from '../helpers/tcp-actor';

const CONNECTIONS = /^conntrack_open_connections$/;

test("an agent reads another namespace's table, classified by that namespace's addresses", async (t) => {
  const { host, remote } = await createTopology(t);
  const agent = await createNamespace(t);
  await startActor(remote, { mode: 'listen', address: remote.ipv4, port: 5432 });
  const clients = await startActor(host, {
    mode: 'connect',
    host: remote.ipv4,
    port: 5432,
    count: 2,
  });
  const server = await startActor(host, { mode: 'listen', address: host.ipv6, port: 8080 });
  await startActor(remote, { mode: 'connect', host: host.ipv6, port: 8080, count: 1 });
  await server.waitForSockets(1);

  const expected = new Map([
    [
      seriesKey('conntrack_open_connections', {
        host: remote.ipv4,
        port: '5432',
        direction: 'outbound',
      }),
      2,
    ],
    [
      seriesKey('conntrack_open_connections', {
        host: remote.ipv6,
        port: '8080',
        direction: 'inbound',
      }),
      1,
    ],
  ]);
  const paths = [`/var/run/netns/${host.name}`, `/proc/${clients.process.pid}/ns/net`];
  for (const [path, mode] of [
    [paths[0]!, 'events'],
    [paths[1]!, 'dump'],
  ] as const) {
    const exporter = await startExporter(agent, [
      '--netns',
      path,
      '--mode',
      mode,
      '--no-resolve-hosts',
    ]);
    let actual = new Map<string, number>();
    await waitFor(async () => {
      actual = pick(await exporter.metrics(), CONNECTIONS);
      return isDeepStrictEqual(actual, expected);
    }, 30_000).catch(() => undefined);
    assert.deepEqual(actual, expected, `${path} in ${mode} mode`);
    const all = await exporter.metrics();
    // The watched namespace's table, the three connections, not the agent's
    // (which holds the scrapes).
    assert.equal(await conntrackCount(host), 3);
    assert.equal(all.get('conntrack_table_entries'), 3, `${path}: table entries`);
    assert.equal(all.get(seriesKey('conntrack_exporter_table_mode', { mode })), 1);
    assert.equal(await exporter.stop(), 0);
  }
});

test('--netns with a path that is no namespace: one line, exit 1', async (t) => {
  const agent = await createNamespace(t);
  for (const [path, reason] of [
    ['/var/run/netns/no-such-namespace', /no such file/],
    ['/etc/hostname', /not a network namespace/],
  ] as const) {
    const result = await agent.exec([process.execPath, CLI, '--netns', path]);
    assert.equal(result.code, 1, result.stderr);
    const lines = result.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, new RegExp(`^conntrack-exporter: --netns: cannot watch ${path}: `));
    assert.match(lines[0]!, reason);
  }
});
