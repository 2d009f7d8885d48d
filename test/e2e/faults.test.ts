/**
 * Faults the exporter must survive without going down or serving half a
 * table: a netlink error in the middle of a dump (a real one, injected into
 * the recvfrom() calls of the running process by strace), a table that
 * changes while it is dumped, SIGTERM while busy, SIGHUP with nothing to
 * reload.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';

import { parseExposition, pick, seriesKey, startExporter } from '../helpers/exporter';
import { createNamespace, waitFor } from '../helpers/netns';
import { startActor } from '../helpers/tcp-actor';

const CHURN = path.join(__dirname, '..', '..', 'bench', 'soak', 'churn.ts');
const SUCCESS = seriesKey('conntrack_exporter_scrape_collector_success', {
  collector: 'conntrack',
});
const OPEN = seriesKey('conntrack_open_connections', {
  host: '127.0.0.1',
  port: '0',
  direction: 'outbound',
});

test('a netlink error in the middle of a dump: reported, nothing half-filled, then recovered', async (t) => {
  const ns = await createNamespace(t);
  const server = await startActor(ns, { mode: 'listen', address: '127.0.0.1', port: 0 });
  t.after(() => server.stop());
  const clients = await startActor(ns, {
    mode: 'connect',
    host: '127.0.0.1',
    port: server.port,
    count: 50,
  });
  t.after(() => clients.stop());
  const open = OPEN.replace('port="0"', `port="${server.port}"`);
  const exporter = await startExporter(ns, ['--mode', 'dump', '--no-resolve-hosts']);
  const before = await exporter.metrics();
  assert.equal(before.get(SUCCESS), 1);
  assert.equal(before.get(open), 50);

  // From its second recvfrom() on, every thread's recvfrom() fails with
  // ENOBUFS (what the kernel says when it dropped netlink messages): the
  // first part of each dump arrives, the rest fails. Nothing else in the
  // exporter uses recvfrom() (--no-resolve-hosts: no DNS).
  const pid = exporter.process.pid!;
  const tracer = spawn(
    'strace',
    [
      '-f',
      '-p',
      String(pid),
      '-e',
      'trace=recvfrom',
      '-e',
      'inject=recvfrom:error=ENOBUFS:when=2+',
    ].concat(['-o', '/dev/null']),
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const detached = once(tracer, 'exit');
  t.after(async () => {
    if (tracer.exitCode === null) tracer.kill('SIGTERM');
    await detached;
  });
  let traced = '';
  tracer.stderr.setEncoding('utf8').on('data', (chunk: string) => (traced += chunk));
  await waitFor(() => /attached/.test(traced), 10_000, `strace attached: ${traced}`);
  // Threads started since are not traced; the thread pool is started by now.
  assert.ok(readdirSync(`/proc/${pid}/task`).length > 1);

  for (let scrape = 0; scrape < 3; scrape++) {
    const during = await exporter.metrics();
    assert.equal(during.get(SUCCESS), 0, 'the failure is reported');
    assert.equal(pick(during, /^conntrack_open_connections$/).size, 0, 'no half-read table');
    assert.equal(pick(during, /^conntrack_exporter_build_info$/).size, 1, 'the rest is served');
  }
  assert.match(
    exporter.stderr(),
    /error: cannot read the conntrack table: nfct_query\(DUMP\): No buffer space available/,
  );

  tracer.kill('SIGTERM');
  await detached;
  const after = await exporter.metrics();
  assert.equal(after.get(SUCCESS), 1, 'the next scrape after the fault recovers');
  assert.equal(after.get(open), 50);
  assert.equal(await exporter.stop(), 0, 'the process stayed up and stops cleanly');
});

test('a table that changes during dumps: every scrape succeeds', async (t) => {
  const ns = await createNamespace(t);
  const exporter = await startExporter(ns, ['--mode', 'dump', '--no-resolve-hosts']);
  const churn = ns.spawn([process.execPath, '--import', 'tsx', CHURN, '400', '0']);
  t.after(() => void churn.kill('SIGTERM'));
  // Until the table holds a few thousand entries: each dump then takes many
  // netlink messages, and entries come and go between them.
  await waitFor(
    async () => ((await exporter.metrics()).get('conntrack_table_entries') ?? 0) > 2000,
    30_000,
    'a busy table',
  );
  for (let scrape = 0; scrape < 30; scrape++) {
    const metrics = parseExposition(await exporter.scrape());
    assert.equal(metrics.get(SUCCESS), 1, `scrape ${scrape}`);
  }
  churn.stdin?.end();
  const [line] = (await once(churn.stdout!.setEncoding('utf8'), 'data')) as [string];
  const stats = JSON.parse(line) as { opened: number; failed: number };
  assert.ok(stats.opened > 2000, `churn opened ${stats.opened}`);
  assert.equal(await exporter.stop(), 0);
});

test('SIGTERM ends a busy exporter cleanly within a few seconds', async (t) => {
  const ns = await createNamespace(t);
  const exporter = await startExporter(ns, ['--mode', 'dump', '--no-resolve-hosts']);
  const churn = ns.spawn([process.execPath, '--import', 'tsx', CHURN, '300', '0']);
  t.after(() => void churn.kill('SIGTERM'));
  const load = ns.spawn(
    [
      process.execPath,
      '--import',
      'tsx',
      path.join(__dirname, '..', 'helpers', 'http-load.ts'),
    ].concat(['127.0.0.1', '9318', '200', '20', '1000']),
  );
  t.after(() => void load.kill('SIGKILL'));
  await once(load.stdout!, 'data'); // holding its idle connections, scraping
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const started = Date.now();
  const code = await exporter.stop();
  const seconds = (Date.now() - started) / 1000;
  assert.equal(code, 0);
  // The exporter gives in-flight work 5 s; 15 s leaves room for a loaded machine.
  assert.ok(seconds < 15, `stopped after ${seconds} s`);
  assert.match(exporter.stderr(), /SIGTERM received, stopping/);
});

test('SIGHUP without a web config: says reload is not supported, keeps serving', async (t) => {
  const ns = await createNamespace(t);
  const exporter = await startExporter(ns, ['--no-resolve-hosts']);
  exporter.process.kill('SIGHUP');
  await waitFor(() => /SIGHUP/.test(exporter.stderr()), 10_000, 'SIGHUP logged');
  assert.match(
    exporter.stderr(),
    /^conntrack-exporter: SIGHUP: configuration reload is not supported; restart to apply changes$/m,
  );
  assert.equal((await exporter.metrics()).get(SUCCESS), 1);
  assert.equal(await exporter.stop(), 0);
});
