/**
 * tcp-metrics-proxy without flags runs as the Go original does: 127.0.0.1:3000
 * to 127.0.0.1:3001, metrics on 127.0.0.1:3002 at every path. Fixed ports,
 * so in a namespace of its own.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import test from 'node:test';

import { createNamespace, waitFor, type Namespace } from '../helpers/netns';
import { parseMetrics } from '../helpers/proxy-net';
import { startActor } from '../helpers/tcp-actor';

const DIST = path.join(__dirname, '..', '..', 'dist');

async function get(ns: Namespace, url: string): Promise<{ status: string; body: string }> {
  const result = await ns.exec(['curl', '-sS', '--max-time', '10', '-w', '\n%{http_code}', url]);
  assert.equal(result.code, 0, result.stderr);
  const cut = result.stdout.lastIndexOf('\n');
  return { status: result.stdout.slice(cut + 1), body: result.stdout.slice(0, cut) };
}

function spawnLogged(ns: Namespace, args: string[]) {
  const child = ns.spawn([process.execPath, ...args]);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return { child, stderr: () => stderr };
}

test('tcp-metrics-proxy without flags: the Go defaults, metrics on every path', async (t) => {
  const ns = await createNamespace(t);
  const target = await startActor(ns, { mode: 'listen', address: '127.0.0.1', port: 3001 });
  const proxy = spawnLogged(ns, [path.join(DIST, 'bin', 'tcp-metrics-proxy.js')]);
  t.after(() => proxy.child.kill('SIGKILL'));
  await waitFor(() => /metrics on/.test(proxy.stderr()), 15_000, 'the proxy to start');
  assert.match(
    proxy.stderr(),
    /proxying 127\.0\.0\.1:3000 to 127\.0\.0\.1:3001; metrics on http:\/\/127\.0\.0\.1:3002\//,
  );

  await startActor(ns, { mode: 'connect', host: '127.0.0.1', port: 3000 });
  await target.waitForSockets(1);
  for (const pathname of ['/', '/metrics', '/foo', '/a/b?c=d']) {
    const { status, body } = await get(ns, `http://127.0.0.1:3002${pathname}`);
    assert.equal(status, '200', pathname);
    const counts = [...parseMetrics(body)].filter(([key]) =>
      key.startsWith('inbound_connection_count{'),
    );
    assert.deepEqual(
      counts.map(([, value]) => value),
      [1],
      pathname,
    );
  }
});

test('tcp-metrics-proxy -metrics-path: that path only; the proxy subcommand keeps /metrics and its required flags', async (t) => {
  const ns = await createNamespace(t);
  const dropIn = spawnLogged(ns, [
    path.join(DIST, 'bin', 'tcp-metrics-proxy.js'),
    '-metrics-path=/m',
  ]);
  t.after(() => dropIn.child.kill('SIGKILL'));
  await waitFor(() => /metrics on/.test(dropIn.stderr()), 15_000, 'the proxy to start');
  assert.equal((await get(ns, 'http://127.0.0.1:3002/m')).status, '200');
  assert.equal((await get(ns, 'http://127.0.0.1:3002/foo')).status, '404');

  const cli = path.join(DIST, 'cli.js');
  const missing = await ns.exec([process.execPath, cli, 'proxy']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /missing --listen HOST:PORT/);
  const sub = spawnLogged(ns, [
    cli,
    'proxy',
    '--listen',
    '127.0.0.1:4000',
    '--target',
    '127.0.0.1:4001',
    '--metrics',
    '127.0.0.1:4002',
  ]);
  t.after(() => sub.child.kill('SIGKILL'));
  await waitFor(() => /metrics on/.test(sub.stderr()), 15_000, 'the proxy subcommand to start');
  assert.equal((await get(ns, 'http://127.0.0.1:4002/metrics')).status, '200');
  assert.equal((await get(ns, 'http://127.0.0.1:4002/foo')).status, '404');
});
