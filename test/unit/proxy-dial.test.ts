/**
 * How the relay reaches the target: by name (resolved at each dial, every
 * address tried in turn), over IPv6, and what a client leaving during the
 * dial, or a name that does not resolve, does to it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import test, { type TestContext } from 'node:test';

import { startInProcessProxy } from '../helpers/proxy-in-process';
import {
  howItEnds,
  randomBytes,
  readAll,
  sha256,
  unansweringPort,
  within,
  writeAll,
} from '../helpers/proxy-net';

/** An echo server on one address only, closed after the test. */
async function echoOn(t: TestContext, host: string): Promise<number> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  server.listen(0, host);
  await within(once(server, 'listening'), `an echo server on ${host}`);
  t.after(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

async function echoThrough(t: TestContext, host: string, port: number): Promise<void> {
  const client = net.connect({ host, port, allowHalfOpen: true });
  t.after(() => client.destroy());
  await within(once(client, 'connect'), `a connection to ${host}:${port}`);
  const data = randomBytes(200_000);
  const echoed = readAll(client);
  await writeAll(client, data);
  assert.equal(sha256(await within(echoed, 'the echo')), sha256(data));
}

test('a target given by name: resolved at the dial, bytes through', async (t) => {
  const port = await echoOn(t, '127.0.0.1');
  const proxy = await startInProcessProxy(t, port, { targetHost: 'localhost' });
  await echoThrough(t, '127.0.0.1', proxy.port);
  await echoThrough(t, '127.0.0.1', proxy.port);
  await within(proxy.proxy.whenIdle(), 'the proxy to be idle');
  assert.equal(proxy.traffic.dialed, 2);
  assert.deepEqual(proxy.traffic.dialFailures, {
    refused: 0,
    timeout: 0,
    unreachable: 0,
    resolve: 0,
    other: 0,
  });
});

test('IPv6: listening on [::1] and dialing [::1]', async (t) => {
  const port = await echoOn(t, '::1');
  const proxy = await startInProcessProxy(t, port, { targetHost: '::1', listenHost: '::1' });
  await echoThrough(t, '::1', proxy.port);
  await within(proxy.proxy.whenIdle(), 'the proxy to be idle');
  assert.equal(proxy.traffic.upstream.written, 200_000);
  assert.equal(proxy.traffic.downstream.written, 200_000);
});

test('every interface (:PORT) takes IPv4 and IPv6 clients', async (t) => {
  const port = await echoOn(t, '127.0.0.1');
  const proxy = await startInProcessProxy(t, port, { listenHost: '' });
  await echoThrough(t, '127.0.0.1', proxy.port);
  await echoThrough(t, '::1', proxy.port);
  assert.equal(proxy.traffic.dialed, 2);
});

test('a name that does not resolve: the client is reset, counted as resolve', async (t) => {
  const proxy = await startInProcessProxy(t, 1, { targetHost: 'no-such-host.invalid' });
  const client = net.connect({ host: '127.0.0.1', port: proxy.port });
  t.after(() => client.destroy());
  assert.equal(await within(howItEnds(client), 'the client to be closed'), 'reset');
  await within(proxy.proxy.whenIdle(), 'the proxy to be idle');
  assert.equal(proxy.traffic.dialFailures.resolve, 1);
  assert.match(proxy.warnings.join('\n'), /\(resolve: getaddrinfo (ENOTFOUND|EAI_AGAIN) /);
});

test('a client that leaves during the dial takes the dial with it, uncounted', async (t) => {
  const port = await unansweringPort(t);
  const proxy = await startInProcessProxy(t, port, { dialTimeoutMs: 10_000 });
  const client = net.connect({ host: '127.0.0.1', port: proxy.port });
  t.after(() => client.destroy());
  await within(once(client, 'connect'), 'the connection to the proxy');
  // Wait until the relay has accepted it, then leave with an RST.
  await within(
    (async () => {
      while (proxy.traffic.accepted < 1) await new Promise((resolve) => setTimeout(resolve, 10));
    })(),
    'the proxy to accept',
  );
  client.resetAndDestroy();
  // Well before the 10 s dial timeout, which would also have ended it.
  await within(proxy.proxy.whenIdle(), 'the proxy to drop the dial', 8_000);
  assert.equal(proxy.traffic.activeInbound, 0);
  assert.equal(proxy.traffic.dialed, 0);
  assert.equal(
    Object.values(proxy.traffic.dialFailures).reduce((a, b) => a + b, 0),
    0,
  );
});

test('TCP keep-alive (15 s) on both of the proxy’s sockets', async (t) => {
  const targetPort = await echoOn(t, '127.0.0.1');
  const proxy = await startInProcessProxy(t, targetPort);
  const client = net.connect({ host: '127.0.0.1', port: proxy.port });
  t.after(() => client.destroy());
  client.write('x');
  await within(once(client, 'data'), 'the echo');
  // The proxy's ends: the accepted one (source port = listen port) and the
  // dialed one (destination port = target port). The test's own are not.
  const filter = `( sport = :${proxy.port} or dport = :${targetPort} )`;
  const lines = execFileSync('ss', ['-tnoH', 'state', 'established', filter], { encoding: 'utf8' })
    .trim()
    .split('\n');
  assert.equal(lines.length, 2, lines.join('\n'));
  for (const line of lines) assert.match(line, /timer:\(keepalive,1[45]sec,0\)/);
});
