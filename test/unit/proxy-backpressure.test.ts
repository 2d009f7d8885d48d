/**
 * The proxy in front of a slow target: the client is held back by TCP flow
 * control, the proxy keeps at most one read in memory, and every byte
 * arrives once the target reads.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type net from 'node:net';
import { createInterface } from 'node:readline';
import test from 'node:test';

import { loadRelay } from '../../src/proxy/relay-addon';
import type { ProxyTraffic } from '../../src/proxy/traffic';
import { startInProcessProxy } from '../helpers/proxy-in-process';
import { connect, randomBytes, readAll, sha256, startServer, within } from '../helpers/proxy-net';

/** Writes `data`, calling `onBackPressure` the first time the socket pushes back. */
async function writeFeelingBackPressure(
  socket: net.Socket,
  data: Buffer,
  onBackPressure: () => void,
): Promise<void> {
  const piece = 64 * 1024;
  for (let offset = 0; offset < data.length; offset += piece) {
    if (!socket.write(data.subarray(offset, offset + piece))) {
      onBackPressure();
      await within(once(socket, 'drain'), 'the client to drain');
    }
  }
  onBackPressure();
  socket.end();
}

test('a slow reader as target: the client is held back, the proxy holds at most one read', async (t) => {
  const data = randomBytes(16 * 1024 * 1024);
  // Set once the proxy runs, which is after the target starts.
  let traffic: ProxyTraffic | undefined = undefined;
  let mostHeld = 0;
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  // Made before the target's connection comes: on a loaded machine every
  // byte may already sit in socket buffers when the client is done writing,
  // before the target's handler has run.
  let deliver: (received: Buffer) => void = () => {};
  const arrived = new Promise<Buffer>((resolve) => (deliver = resolve));
  const target = await startServer(
    t,
    (socket) => {
      const chunks: Buffer[] = [];
      socket.once('end', () => {
        socket.end();
        deliver(Buffer.concat(chunks));
      });
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        // read - written is what sits in the proxy's own memory.
        const upstream = traffic?.upstream ?? { read: 0, written: 0 };
        mostHeld = Math.max(mostHeld, upstream.read - upstream.written);
        socket.pause();
        setImmediate(() => socket.resume());
      });
      socket.pause();
      // Reads nothing until the client has felt back-pressure, then reads in sips.
      void released.then(() => socket.resume());
    },
    { pauseOnConnect: true },
  );
  const started = await startInProcessProxy(t, target.port);
  const { proxy, port } = started;
  traffic = started.traffic;
  const client = await connect(t, port);
  const done = readAll(client);
  await writeFeelingBackPressure(client, data, release);
  const received = await within(arrived, 'every byte at the target', 60_000);
  assert.equal(received.length, data.length);
  assert.equal(sha256(received), sha256(data));
  // The slow reader found bytes waiting in the proxy, never more than one read.
  assert.ok(mostHeld > 0, 'the proxy held bytes for the slow reader');
  assert.ok(mostHeld <= loadRelay().bufferBytes, `the proxy held ${mostHeld} bytes at once`);
  await within(done, 'the FIN back at the client');
  await within(proxy.whenIdle(), 'the proxy to be idle');
});

test('a target slow to accept: the bytes wait in TCP buffers and all arrive', async (t) => {
  // Accepts only when told to on stdin, then reports the SHA-256 and length of what it read.
  const script = [
    'import hashlib, socket, sys',
    's = socket.socket()',
    "s.bind(('127.0.0.1', 0))",
    's.listen(8)',
    'print(s.getsockname()[1], flush=True)',
    'sys.stdin.readline()',
    'c, _ = s.accept()',
    'h = hashlib.sha256()',
    'n = 0',
    'while True:',
    '    b = c.recv(65536)',
    '    if not b: break',
    '    h.update(b)',
    '    n += len(b)',
    "c.sendall(b'done')",
    'c.close()',
    'print(h.hexdigest(), n, flush=True)',
  ].join('\n');
  const child = spawn('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  const lines: string[] = [];
  const lineWaiters: Array<() => void> = [];
  createInterface({ input: child.stdout }).on('line', (text) => {
    lines.push(text);
    for (const wake of lineWaiters.splice(0)) wake();
  });
  const line = (index: number): Promise<string> =>
    within(
      new Promise<string>((resolve) => {
        const check = (): void => {
          const found = lines[index];
          if (found === undefined) lineWaiters.push(check);
          else resolve(found);
        };
        check();
      }),
      `line ${index} from the python target`,
    );
  const targetPort = Number(await line(0));
  const { traffic, port } = await startInProcessProxy(t, targetPort);
  const client = await connect(t, port);
  const answer = readAll(client);
  const data = randomBytes(8 * 1024 * 1024);
  let accepted = false;
  await writeFeelingBackPressure(client, data, () => {
    if (accepted) return;
    accepted = true;
    child.stdin.write('accept now\n');
  });
  assert.equal((await within(answer, 'the answer')).toString(), 'done');
  assert.equal(await line(1), `${sha256(data)} ${data.length}`);
  assert.equal(traffic.upstream.written, data.length);
});

test('a slow reader as client: the target is held back, the proxy holds at most one read', async (t) => {
  const data = randomBytes(16 * 1024 * 1024);
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  const target = await startServer(t, (socket) => {
    void writeFeelingBackPressure(socket, data, release);
  });
  const { proxy, traffic, port } = await startInProcessProxy(t, target.port);
  const client = await connect(t, port);
  client.pause();
  // Reads nothing until the target has felt back-pressure, then reads in sips.
  await within(released, 'the target to feel back-pressure');
  const chunks: Buffer[] = [];
  let mostHeld = 0;
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  client.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    // read - written is what sits in the proxy's own memory.
    const { read, written } = traffic.downstream;
    mostHeld = Math.max(mostHeld, read - written);
    client.pause();
    setImmediate(() => client.resume());
  });
  client.resume();
  await within(ended, 'every byte at the client', 60_000);
  const received = Buffer.concat(chunks);
  assert.equal(received.length, data.length);
  assert.equal(sha256(received), sha256(data));
  assert.ok(mostHeld > 0, 'the proxy held bytes for the slow reader');
  assert.ok(mostHeld <= loadRelay().bufferBytes, `the proxy held ${mostHeld} bytes at once`);
  client.end();
  await within(proxy.whenIdle(), 'the proxy to be idle');
});
