/**
 * The relay's part of the memcheck (test/native/memcheck.sh): the sanitizer
 * build's TcpRelay through a few hundred connections with data both ways,
 * half-closes, resets from either side, refused and timed-out dials, a
 * target by name, relays closed with connections open and one dropped
 * without close. Bytes are checked too: a wrong copy is a memory bug here.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

import type { NativeRelay, NativeTcpRelay } from '../../src/proxy/relay-addon';
import { startUnansweringPort } from '../helpers/proxy-net';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

interface Relay {
  relay: NativeTcpRelay;
  port: number;
  failures: string[];
}

function startRelay(addon: NativeRelay, host: string, port: number, dialTimeoutMs = 5000): Relay {
  const failures: string[] = [];
  const relay = new addon.TcpRelay(
    host,
    port,
    dialTimeoutMs,
    true,
    // Two loops: connections are handed between threads, as in production.
    2,
    (code) => failures.push(code),
    (code) => failures.push(`accept ${code}`),
    () => undefined,
  );
  return { relay, port: relay.listen('127.0.0.1', 0).port, failures };
}

async function echoServer(): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

/** One connection through the relay, ended as `index` says. */
function exercise(port: number, index: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const data = randomBytes([0, 100, 70_000, 400_000][index % 4] ?? 0);
    const chunks: Buffer[] = [];
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => resolve());
    socket.on('connect', () => {
      if (index % 5 === 4) {
        // A reset from the client side in the middle of a transfer.
        socket.write(data);
        setTimeout(() => socket.resetAndDestroy(), 1);
        return;
      }
      socket.end(data);
    });
    socket.on('end', () => {
      if (index % 5 === 4) return;
      try {
        assert.equal(sha256(Buffer.concat(chunks)), sha256(data), `connection ${index}`);
      } catch (error) {
        reject(error);
      }
      socket.end();
    });
  });
}

export async function relayMemcheck(addon: NativeRelay): Promise<void> {
  const echo = await echoServer();
  const byLiteral = startRelay(addon, '127.0.0.1', echo.port);
  const byName = startRelay(addon, 'localhost', echo.port);
  for (let round = 0; round < 4; round++) {
    await Promise.all([
      ...Array.from({ length: 50 }, (_, i) => exercise(byLiteral.port, i)),
      ...Array.from({ length: 25 }, (_, i) => exercise(byName.port, i)),
    ]);
  }
  assert.equal(byLiteral.relay.openConnections, 0);
  const counts = new Float64Array(addon.counterNames.length);
  byLiteral.relay.readCounters(counts);
  assert.equal(counts[addon.counterNames.indexOf('accepted')], 200);

  // Resets from the target's side: a server that cuts every connection.
  const cutter = net.createServer((socket) => socket.resetAndDestroy());
  await new Promise<void>((resolve) => cutter.listen(0, '127.0.0.1', resolve));
  const cutterPort = (cutter.address() as net.AddressInfo).port;
  const cut = startRelay(addon, '127.0.0.1', cutterPort);
  await Promise.all(Array.from({ length: 50 }, (_, i) => exercise(cut.port, i)));

  // Dials that fail: refused, unresolvable, timed out, and cancelled by the client.
  cutter.close();
  const refused = startRelay(addon, '127.0.0.1', cutterPort);
  const unresolved = startRelay(addon, 'no-such-host.invalid', 80);
  const silent = await startUnansweringPort();
  // Let the fillers take the listener's queue before anything dials it.
  await pause(100);
  const blackhole = startRelay(addon, '127.0.0.1', silent.port, 200);
  await Promise.all([
    ...Array.from({ length: 30 }, (_, i) => exercise(refused.port, i)),
    ...Array.from({ length: 10 }, (_, i) => exercise(unresolved.port, i)),
    ...Array.from({ length: 10 }, (_, i) => exercise(blackhole.port, i)),
  ]);
  const leaving = startRelay(addon, '127.0.0.1', silent.port);
  const early = Array.from({ length: 10 }, () => net.connect(leaving.port, '127.0.0.1'));
  for (const socket of early) socket.on('error', () => undefined);
  await pause(100);
  for (const socket of early) socket.resetAndDestroy();
  await pause(100);

  // Open connections at close(), and a relay dropped without close().
  const held = Array.from({ length: 20 }, () => net.connect(byLiteral.port, '127.0.0.1'));
  for (const socket of held) socket.on('error', () => undefined);
  await pause(200);
  byLiteral.relay.resetAll();
  const busy = startRelay(addon, '127.0.0.1', echo.port);
  const open = Array.from({ length: 20 }, () => net.connect(busy.port, '127.0.0.1'));
  for (const socket of open) socket.on('error', () => undefined);
  await pause(200);
  busy.relay.close();
  busy.relay.close();
  startRelay(addon, '127.0.0.1', echo.port).relay.stopAccepting();

  for (const relay of [byLiteral, byName, cut, refused, unresolved, blackhole, leaving]) {
    relay.relay.close();
  }
  for (const socket of [...held, ...open]) socket.destroy();
  echo.close();
  silent.stop();
  const failures = [refused, unresolved, blackhole].map((relay) => {
    const byCode = new Map<string, number>();
    for (const code of relay.failures) byCode.set(code, (byCode.get(code) ?? 0) + 1);
    return [...byCode].map(([code, count]) => `${count} ${code}`).join(', ');
  });
  process.stdout.write(
    `memcheck driver: relay: 525 connections relayed, dial failures: ${failures.join('; ')}\n`,
  );
}
