/**
 * The HTTP limits at their defaults, on the built exporter started without
 * any limit option: 1024 connections, 32 of them per client address,
 * keep-alive 75 s, idle 60 s, TLS handshake 10 s.
 * Bounds on time are wide for a loaded machine, but each one excludes the
 * next limit that could have closed the connection instead (the 10 s
 * headers timeout, Node's own defaults), so the default meant is the one
 * that applied.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import path from 'node:path';
import test from 'node:test';

import { TLS_WEB_CONFIG, webConfigBesideCertificates } from '../helpers/certificates';
import { startExporter } from '../helpers/exporter';
import { createNamespace, type Namespace } from '../helpers/netns';

const PROBE = path.join(__dirname, '..', 'helpers', 'limit-probe.ts');

/** Spawned rather than exec'd: the idle probe outlasts exec's 30 s limit. */
async function probe(ns: Namespace, ...args: string[]): Promise<Record<string, number>> {
  const child = ns.spawn([process.execPath, '--import', 'tsx', PROBE, ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, stderr);
  return JSON.parse(stdout) as Record<string, number>;
}

test('1024 connections at most: the ones beyond are closed at once', async (t) => {
  const ns = await createNamespace(t);
  const exporter = await startExporter(ns, ['--no-resolve-hosts']);
  t.after(() => exporter.stop());
  // The ones held are closed by the 10 s headers timeout, the rest at once.
  // From 40 addresses, 28 at most each: under the per-client limit.
  assert.deepEqual(await probe(ns, 'connections', '127.0.0.1', '9318', '1100', '40'), {
    quick: 1100 - 1024,
    late: 1024,
  });
  // And it serves again once they are gone.
  const success = 'conntrack_exporter_scrape_collector_success{collector="conntrack"}';
  assert.equal((await exporter.metrics()).get(success), 1);
});

test('32 connections at most from one client address', async (t) => {
  const ns = await createNamespace(t);
  const exporter = await startExporter(ns, ['--no-resolve-hosts']);
  t.after(() => exporter.stop());
  assert.deepEqual(await probe(ns, 'connections', '127.0.0.1', '9318', '40'), {
    quick: 40 - 32,
    late: 32,
  });
});

test('a kept-alive connection outlasts a 1 m scrape interval: closed 75 s after its last answer', async (t) => {
  const ns = await createNamespace(t);
  const exporter = await startExporter(ns, ['--no-resolve-hosts']);
  t.after(() => exporter.stop());
  const { seconds } = await probe(ns, 'keepalive', '127.0.0.1', '9318');
  // Neither the 10 s headers timeout for the next request, nor the 60 s
  // idle timeout, nor Node's own 5 s keep-alive closed it first.
  assert.ok(seconds! >= 74.9 && seconds! < 90, `closed after ${seconds} s`);
});

test('a TLS client that never says hello is dropped after 10 s', async (t) => {
  const ns = await createNamespace(t);
  const web = await webConfigBesideCertificates(t, TLS_WEB_CONFIG);
  const exporter = await startExporter(ns, ['--no-resolve-hosts', '--web.config.file', web.file]);
  t.after(() => exporter.stop());
  const { seconds } = await probe(ns, 'silent', '127.0.0.1', '9318');
  // Node's own default would be 120 s.
  assert.ok(seconds! >= 9.9 && seconds! < 40, `closed after ${seconds} s`);
});

test('a client that stops reading is closed once 60 s pass without traffic', async (t) => {
  const ns = await createNamespace(t);
  // The smallest socket buffers, in this namespace only: a few KiB of the
  // answer fill them, and the server's write stalls with most of it unsent.
  for (const buffers of ['net.ipv4.tcp_rmem=4096 4096 4096', 'net.ipv4.tcp_wmem=1024 1024 1024']) {
    assert.equal((await ns.exec(['sysctl', '-q', '-w', buffers])).code, 0, buffers);
  }
  const exporter = await startExporter(ns, ['--no-resolve-hosts']);
  t.after(() => exporter.stop());
  const { seconds } = await probe(ns, 'unread', '127.0.0.1', '9318');
  t.diagnostic(`closed after ${seconds} s`);
  // The request is whole and its answer never finishes, so neither the 10 s
  // headers nor the 30 s request timeout nor the 75 s keep-alive applies, and
  // Node's own default would never close it. When the 60 s run out, Node
  // counts the bytes the write got out at its start as traffic and waits
  // another 60 s: closed at 120 s (at 60 s were the idle timeout 30 s, at
  // 240 s, which the probe does not wait for, were it 120 s).
  assert.ok(seconds! >= 110 && seconds! < 150, `closed after ${seconds} s`);
});
