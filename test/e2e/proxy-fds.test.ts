/**
 * The proxy's file descriptors: every connection gives its two sockets back,
 * whatever way it ends, and running out of descriptors pauses accepting
 * (logged, no spinning) instead of ending the proxy.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import test, { type TestContext } from 'node:test';

import {
  DIST,
  randomBytes,
  readAll,
  sha256,
  startServer,
  unusedPort,
  within,
  writeAll,
} from '../helpers/proxy-net';

const CLI = path.join(DIST, 'cli.js');
const STARTED = /proxying 127\.0\.0\.1:(\d+) to /;

interface Proxy {
  pid: number;
  port: number;
  stderr(): string;
}

/** The CLI proxy, optionally under a lower limit of open files (prlimit). */
async function startProxy(t: TestContext, target: number, maxFiles?: number): Promise<Proxy> {
  const node = [process.execPath, CLI, 'proxy', '--listen', '127.0.0.1:0'];
  node.push('--target', `127.0.0.1:${target}`, '--metrics', '127.0.0.1:0');
  const [command = '', ...args] =
    maxFiles === undefined ? node : ['prlimit', `--nofile=${maxFiles}`, ...node];
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.setEncoding('utf8');
  const started = new Promise<number>((resolve, reject) => {
    child.stderr.on('data', (text: string) => {
      stderr += text;
      const match = STARTED.exec(stderr);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', () => reject(new Error(`the proxy exited: ${stderr}`)));
  });
  const port = await within(started, 'the proxy to start');
  return { pid: child.pid ?? 0, port, stderr: () => stderr };
}

const openFds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function until(what: string, ready: () => boolean, ms = 10_000): Promise<void> {
  await within(
    (async () => {
      while (!ready()) await new Promise((resolve) => setTimeout(resolve, 20));
    })(),
    what,
    ms,
  );
}

/** One connection through the proxy, ended one of four ways by its index. */
async function oneConnection(port: number, index: number): Promise<void> {
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  socket.on('error', () => {});
  await within(once(socket, 'connect'), 'a connection to the proxy');
  const data = randomBytes(index % 2 === 0 ? 100 : 300_000);
  const ending = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  if (index % 4 === 3) {
    socket.write(data);
    socket.resetAndDestroy();
  } else {
    const echoed = readAll(socket);
    await writeAll(socket, data);
    assert.equal(sha256(await within(echoed, 'the echo')), sha256(data));
    socket.destroy();
  }
  await within(ending, 'the client socket to close');
}

test('after hundreds of connections, ended every way, the fd count is back to its baseline', async (t) => {
  const target = await startServer(t, (socket) => socket.pipe(socket));
  const proxy = await startProxy(t, target.port);
  const baseline = openFds(proxy.pid);
  for (let batch = 0; batch < 6; batch++) {
    await Promise.all(Array.from({ length: 50 }, (_, i) => oneConnection(proxy.port, i)));
  }
  // And dials that fail: a target that is gone.
  const refusing = await startProxy(t, await unusedPort());
  const refusingBaseline = openFds(refusing.pid);
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      const socket = net.connect({ host: '127.0.0.1', port: refusing.port });
      // The reset is expected; once() would reject on it.
      socket.on('error', () => {});
      await within(
        new Promise((resolve) => socket.once('close', resolve)),
        'the refused client to close',
      );
    }),
  );
  await until('the proxy to give back every fd', () => openFds(proxy.pid) === baseline).catch(() =>
    assert.fail(`${openFds(proxy.pid)} fds open, ${baseline} at the start`),
  );
  await until('the refusing proxy to give back every fd', () => {
    return openFds(refusing.pid) === refusingBaseline;
  });
});

test('out of file descriptors: accepting pauses and resumes, no spin, the proxy lives on', async (t) => {
  let arrived = 0;
  const target = await startServer(t, (socket) => {
    arrived++;
    socket.pipe(socket);
  });
  // A limit that leaves room for exactly ten relayed connections (two fds
  // each), so that the eleventh finds no fd for accept() itself. The limit
  // bounds fd numbers; fds inherited above it (from a test runner) do not count.
  const lowFds = (pid: number): number =>
    readdirSync(`/proc/${pid}/fd`).filter((fd) => Number(fd) < 200).length;
  const probe = await startProxy(t, target.port);
  const limit = lowFds(probe.pid) + 20;
  const proxy = await startProxy(t, target.port, limit);
  assert.equal(lowFds(proxy.pid), limit - 20);
  const held: net.Socket[] = [];
  t.after(() => held.forEach((socket) => socket.destroy()));
  for (let i = 0; i < 14; i++) {
    const socket = net.connect({ host: '127.0.0.1', port: proxy.port });
    socket.on('error', () => {});
    held.push(socket);
    // The first ten one by one, each dialed before the next is accepted, so
    // that they take the fds in pairs and the rest find none to accept with
    // (accepting all at once, the dials would be the ones out of fds).
    if (i < 10) await until(`connection ${i + 1} at the target`, () => arrived === i + 1);
  }
  await until('accept to fail', () => /accepting a connection failed/.test(proxy.stderr())).catch(
    () => assert.fail(`fds ${openFds(proxy.pid)} of ${limit}; ${proxy.stderr()}`),
  );
  assert.match(proxy.stderr(), /accepting a connection failed: accept: Too many open files/);
  const cpuBefore = cpuSeconds(proxy.pid);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const spent = cpuSeconds(proxy.pid) - cpuBefore;
  assert.ok(spent < 0.3, `the proxy used ${spent} s of CPU in 1 s while out of fds`);

  // Fds come back: the waiting connections are taken, and new ones work.
  for (const socket of held) socket.destroy();
  await until('the fds to come back', () => lowFds(proxy.pid) === limit - 20);
  await oneConnection(proxy.port, 0);
  await oneConnection(proxy.port, 1);
});
