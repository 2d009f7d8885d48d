/**
 * NAT as Docker and Kubernetes hosts do it, on the real kernel: the host
 * namespace (where the exporter runs) publishes a container's port (DNAT),
 * redirects a port to a local one (REDIRECT), masquerades the container's
 * outbound connections (SNAT), and routes a flow between the remote host and
 * the container. The expected series follow the README's rules ("Which side
 * is remote, which port, which direction"), written out by hand per flow:
 *
 *   remote 192.0.2.2 ---- 192.0.2.1 host 10.88.0.1 ---- 10.88.0.2 container
 *          2001:db8::2    2001:db8::1    fd00:88::1      fd00:88::2
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import test from 'node:test';
import { isDeepStrictEqual, promisify } from 'node:util';

import { actualCounters, setSysctls, stdoutLines } from '../helpers/events';
import { pick, seriesKey, startExporter } from '../helpers/exporter';
import { createNamespace, createTopology, waitFor, type Namespace } from '../helpers/netns';
import { startActor } from '../helpers/tcp-actor';

const run = promisify(execFile);

const CONTAINER = { ipv4: '10.88.0.2', ipv6: 'fd00:88::2' };
const BRIDGE = { ipv4: '10.88.0.1', ipv6: 'fd00:88::1' };
// Ports: published 8080 -> container 80; 8081 redirected to the host's 9000;
// the container calls the remote's 5432; the remote calls the container's 22.
const PUBLISHED = 8080;
const CONTAINER_PORT = 80;
const REDIRECTED = 8081;
const SERVICE = 9000;
const DATABASE = 5432;
const SSH = 22;

/** The container namespace, one veth from `host`, routed through it. */
async function attachContainer(host: Namespace, remote: Namespace, container: Namespace) {
  const ip = (ns: Namespace, ...args: string[]) => run('ip', ['-n', ns.name, ...args]);
  // Created inside the namespaces: nothing appears in the root namespace.
  await run('ip', [
    ...['link', 'add', 'ctr0', 'netns', host.name, 'index', '30', 'type', 'veth'],
    ...['peer', 'name', 'eth0', 'netns', container.name, 'index', '40'],
  ]);
  await ip(host, 'addr', 'add', `${BRIDGE.ipv4}/24`, 'dev', 'ctr0');
  await ip(host, 'addr', 'add', `${BRIDGE.ipv6}/64`, 'dev', 'ctr0', 'nodad');
  await ip(host, 'link', 'set', 'ctr0', 'up');
  await ip(container, 'addr', 'add', `${CONTAINER.ipv4}/24`, 'dev', 'eth0');
  await ip(container, 'addr', 'add', `${CONTAINER.ipv6}/64`, 'dev', 'eth0', 'nodad');
  await ip(container, 'link', 'set', 'eth0', 'up');
  await ip(container, 'route', 'add', 'default', 'via', BRIDGE.ipv4);
  await ip(container, '-6', 'route', 'add', 'default', 'via', BRIDGE.ipv6);
  // The remote reaches the container through the host (the routed flow).
  await ip(remote, 'route', 'add', '10.88.0.0/24', 'via', host.ipv4);
  await ip(remote, '-6', 'route', 'add', 'fd00:88::/64', 'via', host.ipv6);
  await setSysctls(host, { 'net.ipv4.ip_forward': 1, 'net.ipv6.conf.all.forwarding': 1 });
  await waitFor(
    async () => (await ip(container, '-o', 'link', 'show', 'dev', 'eth0')).stdout.includes(' UP '),
    10_000,
    'carrier on the container link',
  );
  const nat = await host.exec([
    'nft',
    [
      'add table inet nat',
      'add chain inet nat pre { type nat hook prerouting priority dstnat; }',
      'add chain inet nat post { type nat hook postrouting priority srcnat; }',
      // A published port, as Docker's -p 8080:80.
      `add rule inet nat pre ip daddr ${host.ipv4} tcp dport ${PUBLISHED} dnat ip to ${CONTAINER.ipv4}:${CONTAINER_PORT}`,
      `add rule inet nat pre ip6 daddr ${host.ipv6} tcp dport ${PUBLISHED} dnat ip6 to [${CONTAINER.ipv6}]:${CONTAINER_PORT}`,
      `add rule inet nat pre tcp dport ${REDIRECTED} redirect to :${SERVICE}`,
      // The container's own connections leave with the host's address.
      `add rule inet nat post ip saddr 10.88.0.0/24 ip daddr 192.0.2.0/24 masquerade`,
      `add rule inet nat post ip6 saddr fd00:88::/64 ip6 daddr 2001:db8::/64 masquerade`,
    ].join('; '),
  ]);
  if (nat.code !== 0) throw new Error(`nft: ${nat.stderr}`);
}

for (const family of ['ipv4', 'ipv6'] as const) {
  test(`NAT on the host: published port, REDIRECT, masquerade and a routed flow (${family})`, async (t) => {
    const { host, remote } = await createTopology(t);
    const container = await createNamespace(t);
    await attachContainer(host, remote, container);
    const hostAddress = host[family];
    const remoteAddress = remote[family];
    const containerAddress = CONTAINER[family];

    const exporter = await startExporter(host, [
      ...['--mode', 'events', '--no-resolve-hosts', '--log-events', '--log-events-format', 'json'],
    ]);
    t.after(() => exporter.stop());
    const logged = stdoutLines(exporter);

    const published = await startActor(container, {
      mode: 'listen',
      address: containerAddress,
      port: CONTAINER_PORT,
    });
    const service = await startActor(host, { mode: 'listen', address: '::', port: SERVICE });
    const database = await startActor(remote, {
      mode: 'listen',
      address: remoteAddress,
      port: DATABASE,
    });
    const ssh = await startActor(container, {
      mode: 'listen',
      address: containerAddress,
      port: SSH,
    });

    // Each kind of flow with its own number of connections.
    await startActor(remote, { mode: 'connect', host: hostAddress, port: PUBLISHED, count: 2 });
    await startActor(remote, { mode: 'connect', host: hostAddress, port: REDIRECTED, count: 1 });
    const calls = await startActor(container, {
      mode: 'connect',
      host: remoteAddress,
      port: DATABASE,
      count: 3,
    });
    await startActor(remote, { mode: 'connect', host: containerAddress, port: SSH, count: 4 });
    await Promise.all([
      published.waitForSockets(2),
      service.waitForSockets(1),
      database.waitForSockets(3),
      ssh.waitForSockets(4),
    ]);
    const peers = (sockets: readonly { remoteAddress: string }[]) => [
      ...new Set(sockets.map((socket) => socket.remoteAddress.replace(/^::ffff:/, ''))),
    ];
    // The NAT really happened: behind the masquerade the remote sees the
    // host, not the container; the published port's clients reach the
    // container unchanged, as do the routed ones.
    assert.deepEqual(peers(database.sockets), [hostAddress]);
    assert.deepEqual(peers(calls.sockets), [remoteAddress]);
    assert.deepEqual(peers(published.sockets), [remoteAddress]);
    assert.deepEqual(peers(service.sockets), [remoteAddress]);
    assert.deepEqual(peers(ssh.sockets), [remoteAddress]);

    // README: inbound to a published port is labelled with the port the
    // client asked for; after a REDIRECT, with the port that really serves;
    // the container's masqueraded calls are this host's outbound ones, to
    // the peer that answered; a routed flow is forwarded, by destination.
    const flows: [string, string, number, number][] = [
      ['inbound', remoteAddress, PUBLISHED, 2],
      ['inbound', remoteAddress, SERVICE, 1],
      ['outbound', remoteAddress, DATABASE, 3],
      ['forwarded', containerAddress, SSH, 4],
    ];
    const gauges = new Map(
      flows.map(([direction, peer, port, count]) => [
        seriesKey('conntrack_open_connections', { direction, host: peer, port: String(port) }),
        count,
      ]),
    );
    const opened = new Map(
      flows.map(([direction, peer, port, count]) => [
        seriesKey('conntrack_connections_opened_total', {
          direction,
          host: peer,
          port: String(port),
        }),
        count,
      ]),
    );
    let last = new Map<string, number>();
    const open = (metrics: Map<string, number>) =>
      new Map([...pick(metrics, /^conntrack_open_connections$/)].filter(([, v]) => v !== 0));
    await waitFor(
      async () => {
        last = await exporter.metrics();
        return (
          isDeepStrictEqual(open(last), gauges) && isDeepStrictEqual(actualCounters(last), opened)
        );
      },
      30_000,
      'the NAT flows in the series',
    ).catch(() => undefined);
    assert.deepEqual(open(last), gauges);
    assert.deepEqual(actualCounters(last), opened);

    // The event log names the same remote end and direction for each flow.
    const hostPort = (address: string, port: number) =>
      address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
    // An inbound line names the client at its own port, which the test does not know.
    const withoutPort = (host: string) => host.replace(/:\d+$/, '');
    const news = logged
      .map(
        (line) =>
          JSON.parse(line) as {
            event_type: string;
            direction: string;
            remote_host: string;
            original_source_host: string;
          },
      )
      .filter((line) => line.event_type === 'new')
      .map((line) =>
        line.direction === 'inbound'
          ? `inbound ${line.remote_host === line.original_source_host ? withoutPort(line.remote_host) : line.remote_host}`
          : `${line.direction} ${line.remote_host}`,
      )
      .sort();
    const expectedNews = flows
      .flatMap(([direction, peer, port, count]) =>
        Array.from({ length: count }, () =>
          direction === 'inbound'
            ? `inbound ${withoutPort(hostPort(peer, port))}`
            : `${direction} ${hostPort(peer, port)}`,
        ),
      )
      .sort();
    assert.deepEqual(news, expectedNews);
  });
}
