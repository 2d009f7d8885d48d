/**
 * The proxy core over loopback: bytes exact both ways, counted exactly,
 * half-close and resets carried through, a target that refuses or does not
 * answer (see proxy-backpressure for slow targets).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import test from 'node:test';

import { startInProcessProxy } from '../helpers/proxy-in-process';
import {
  connect,
  howItEnds,
  randomBytes,
  readAll,
  sha256,
  startServer,
  unansweringPort,
  unusedPort,
  within,
  writeAll,
} from '../helpers/proxy-net';

const CONNECTIONS = 100;

/** Sizes from empty to 1 MiB, so some transfers fit one read and some need hundreds. */
function sizeFor(index: number): number {
  const sizes = [0, 1, 100, 2048, 2049, 65_536, 131_073, 300_000, 1_048_576];
  return sizes[index % sizes.length] ?? 0;
}

test('100 concurrent connections: random bytes arrive intact both ways and are counted exactly', async (t) => {
  const toTarget = Array.from({ length: CONNECTIONS }, (_, i) => randomBytes(sizeFor(i)));
  const toClient = Array.from({ length: CONNECTIONS }, (_, i) => randomBytes(sizeFor(i + 4)));
  const arrivedAtTarget = new Map<number, string>();
  const targetDone: Array<Promise<void>> = [];
  const target = await startServer(t, (socket) => {
    // The first 4 bytes say which client this is, so the target knows what to send back.
    const chunks: Buffer[] = [];
    let length = 0;
    let answered = false;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (answered || length < 4) return;
      answered = true;
      const index = Buffer.concat(chunks).readUInt32BE(0);
      void writeAll(socket, toClient[index] ?? Buffer.alloc(0));
    });
    targetDone.push(
      within(once(socket, 'end'), 'a client FIN at the target').then(() => {
        const data = Buffer.concat(chunks);
        arrivedAtTarget.set(data.readUInt32BE(0), sha256(data.subarray(4)));
      }),
    );
  });
  const { proxy, traffic, port } = await startInProcessProxy(t, target.port);

  const clients = toTarget.map(async (data, index) => {
    const socket = await connect(t, port);
    const received = readAll(socket);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(index);
    await writeAll(socket, Buffer.concat([header, data]));
    assert.equal(
      sha256(await received),
      sha256(toClient[index] ?? Buffer.alloc(0)),
      `client ${index}`,
    );
  });
  await within(Promise.all(clients), 'every client to finish');
  await within(Promise.all(targetDone), 'the target to read everything');
  await within(proxy.whenIdle(), 'the proxy to close every connection');

  for (const [index, data] of toTarget.entries()) {
    assert.equal(arrivedAtTarget.get(index), sha256(data), `target side of client ${index}`);
  }
  const upstreamBytes = toTarget.reduce((sum, data) => sum + 4 + data.length, 0);
  const downstreamBytes = toClient.reduce((sum, data) => sum + data.length, 0);
  assert.deepEqual(traffic.upstream, { read: upstreamBytes, written: upstreamBytes });
  assert.deepEqual(traffic.downstream, { read: downstreamBytes, written: downstreamBytes });
  assert.equal(traffic.accepted, CONNECTIONS);
  assert.equal(traffic.dialed, CONNECTIONS);
  assert.equal(traffic.activeInbound, 0);
  assert.equal(traffic.activeOutbound, 0);
});

test('half-close: each side can keep sending after the other sent FIN', async (t) => {
  const target = await startServer(t, (socket) => {
    // Answers only once the client has finished, so the answer travels after the client's FIN.
    void readAll(socket).then(
      (request) => socket.end(`got ${request.length} bytes`),
      () => {},
    );
  });
  const { proxy, port } = await startInProcessProxy(t, target.port);
  const client = await connect(t, port);
  const answer = readAll(client);
  client.end(Buffer.alloc(5000, 1));
  assert.equal((await within(answer, 'the answer')).toString(), 'got 5000 bytes');

  // The other way round: the target says all it has and sends FIN first.
  let heard: Promise<Buffer> = Promise.reject(new Error('no connection reached the target'));
  heard.catch(() => {});
  const talker = await startServer(t, (socket) => {
    heard = readAll(socket);
    socket.end('hello, then FIN');
  });
  const second = await startInProcessProxy(t, talker.port);
  const client2 = await connect(t, second.port);
  const closed = once(client2, 'close');
  assert.equal((await within(readAll(client2), 'the greeting')).toString(), 'hello, then FIN');
  client2.end('bye');
  assert.equal((await within(heard, 'the reply at the target')).toString(), 'bye');
  await within(closed, 'the second client to close');
  await within(Promise.all([proxy.whenIdle(), second.proxy.whenIdle()]), 'both proxies to be idle');
  assert.equal(second.traffic.upstream.written, 3);
});

test('a reset on either side resets the other', async (t) => {
  const targetSockets: net.Socket[] = [];
  const arrivals: Array<() => void> = [];
  const target = await startServer(t, (socket) => {
    targetSockets.push(socket);
    arrivals.shift()?.();
  });
  const { proxy, port } = await startInProcessProxy(t, target.port);
  const arrived = (): Promise<void> => new Promise((resolve) => arrivals.push(resolve));

  let targetArrived = arrived();
  const client = await connect(t, port);
  await within(targetArrived, 'the connection to reach the target');
  const targetSide = targetSockets[0];
  assert.ok(targetSide);
  const targetEnding = howItEnds(targetSide);
  client.resetAndDestroy();
  assert.equal(await within(targetEnding, 'the target side to end'), 'reset');

  targetArrived = arrived();
  const client2 = await connect(t, port);
  const clientEnding = howItEnds(client2);
  await within(targetArrived, 'the second connection to reach the target');
  targetSockets[1]?.resetAndDestroy();
  assert.equal(await within(clientEnding, 'the client side to end'), 'reset');
  await within(proxy.whenIdle(), 'the proxy to be idle');
});

test('a target that refuses: the client is reset promptly and the failure counted', async (t) => {
  const { proxy, traffic, port, warnings } = await startInProcessProxy(t, await unusedPort());
  // Not connect(): the reset may come before this side sees its connect done.
  const client = net.connect({ host: '127.0.0.1', port });
  t.after(() => client.destroy());
  assert.equal(await within(howItEnds(client), 'the client to be closed'), 'reset');
  await within(proxy.whenIdle(), 'the proxy to be idle');
  assert.equal(traffic.dialFailures.refused, 1);
  assert.equal(traffic.accepted, 1);
  assert.equal(traffic.dialed, 0);
  assert.equal(traffic.activeInbound, 0);
  assert.match(warnings.join('\n'), /cannot connect to target 127\.0\.0\.1:\d+ \(refused: /);
});

test('idle, asked the moment the last connection ended, comes after its failure is counted', async (t) => {
  const { proxy, traffic, port } = await startInProcessProxy(t, await unusedPort());
  const client = net.connect({ host: '127.0.0.1', port });
  client.on('error', () => {});
  t.after(() => client.destroy());
  // Node connects in a later tick; this one comes after it.
  await new Promise((resolve) => process.nextTick(resolve));
  // Without yielding to the event loop, which is what delivers the relay's
  // reports: the connection is over on its thread, its failure not yet in JS.
  const deadline = Date.now() + 10_000;
  while (traffic.accepted < 1 || proxy.openConnections > 0) {
    if (Date.now() > deadline) throw new Error('the relay did not end the connection in 10 s');
  }
  await proxy.whenIdle();
  assert.equal(traffic.dialFailures.refused, 1);
});

test('a target that does not answer: the dial times out, the client is reset, counted', async (t) => {
  const port = await unansweringPort(t);
  const proxy = await startInProcessProxy(t, port, { dialTimeoutMs: 300 });
  const client = await connect(t, proxy.port);
  assert.equal(await within(howItEnds(client), 'the client to be closed'), 'reset');
  await within(proxy.proxy.whenIdle(), 'the proxy to be idle');
  assert.equal(proxy.traffic.dialFailures.timeout, 1);
  assert.equal(proxy.traffic.dialed, 0);
});

/** The relay threads of this process (named relay-N) and the CPU time each has run, in ns. */
function relayThreads(): Map<string, number> {
  const threads = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      if (!readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').startsWith('relay-')) continue;
      const ran = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      threads.set(tid, ran);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return threads;
}

test('two connections open at once go to two relay threads', async (t) => {
  const { port: target } = await startServer(t, (socket) => {
    socket.resume();
    socket.once('end', () => socket.end());
  });
  const before = relayThreads();
  const { proxy, port } = await startInProcessProxy(t, target, { workers: 2 });
  const ours = [...relayThreads().keys()].filter((tid) => !before.has(tid));
  assert.equal(ours.length, 2, 'one thread per worker');
  const clients = [await connect(t, port), await connect(t, port)];
  const idle = relayThreads();
  // Each stream's bytes are moved by the thread that has its connection.
  await Promise.all(clients.map((client) => writeAll(client, randomBytes(8 * 1024 * 1024))));
  await within(proxy.whenIdle(), 'the proxy to close both connections');
  const busy = relayThreads();
  for (const tid of ours) {
    assert.ok((busy.get(tid) ?? 0) > (idle.get(tid) ?? 0), `relay thread ${tid} did no work`);
  }
});
