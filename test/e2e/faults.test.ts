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
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test, { type TestContext } from 'node:test';

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
  // exporter uses recvfrom() (--no-resolve-hosts: no DNS). The first scrape
  // above read the table in the thread pool, so its threads exist.
  const tracer = await injectFaults(t, exporter.process.pid!, 'recvfrom:error=ENOBUFS:when=2+');
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

  await tracer.detach();
  const after = await exporter.metrics();
  assert.equal(after.get(SUCCESS), 1, 'the next scrape after the fault recovers');
  assert.equal(after.get(open), 50);
  assert.equal(await exporter.stop(), 0, 'the process stayed up and stops cleanly');
});

/**
 * Injects `inject` (strace's syntax) into every thread of the running
 * process `pid`; resolves once each of its threads is traced.
 */
async function injectFaults(t: TestContext, pid: number, inject: string) {
  const [syscall] = inject.split(':');
  const tracer = spawn(
    'strace',
    [
      '-f',
      '-p',
      String(pid),
      '-e',
      `trace=${syscall}`,
      '-e',
      `inject=${inject}`,
      '-o',
      '/dev/null',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const detached = once(tracer, 'exit');
  const detach = async () => {
    if (tracer.exitCode === null) tracer.kill('SIGTERM');
    await detached;
  };
  t.after(detach);
  let traced = '';
  tracer.stderr.setEncoding('utf8').on('data', (chunk: string) => (traced += chunk));
  // -f with -p attaches every thread that exists now (threads started later
  // would be traced too, as children of traced ones).
  const tracedBy = (task: string) =>
    /^TracerPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8'))?.[1];
  await waitFor(
    () => {
      if (tracer.exitCode !== null) throw new Error(`strace exited: ${traced}`);
      return readdirSync(`/proc/${pid}/task`).every(
        (task) => tracedBy(task) === String(tracer.pid),
      );
    },
    30_000,
    'strace to trace every thread',
  ).catch((error: Error) => {
    throw new Error(`${error.message}: ${traced}`);
  });
  return { detach };
}

test('events mode: a failed read of the event stream is reported, and scrapes go on from dumps', async (t) => {
  const ns = await createNamespace(t);
  const server = await startActor(ns, { mode: 'listen', address: '127.0.0.1', port: 0 });
  const open = OPEN.replace('port="0"', `port="${server.port}"`);
  await startActor(ns, { mode: 'connect', host: '127.0.0.1', port: server.port, count: 3 });
  const exporter = await startExporter(ns, ['--mode', 'events', '--no-resolve-hosts']);
  const mode = (metrics: Map<string, number>) =>
    [...pick(metrics, /^conntrack_exporter_table_mode$/)]
      .filter(([, v]) => v === 1)
      .map(([k]) => k);
  const before = await exporter.metrics();
  assert.equal(before.get(open), 3);
  assert.deepEqual(mode(before), ['conntrack_exporter_table_mode{mode="events"}']);

  // The event socket is read with recvmmsg() and nothing else uses it: the
  // next read after an event fails with EIO.
  const tracer = await injectFaults(t, exporter.process.pid!, 'recvmmsg:error=EIO');
  await startActor(ns, { mode: 'connect', host: '127.0.0.1', port: server.port, count: 2 });
  await waitFor(
    () => /the conntrack event stream failed: .*recvmmsg.*/.test(exporter.stderr()),
    30_000,
    'the failure to be logged',
  );
  assert.match(
    exporter.stderr(),
    /^conntrack-exporter: error: the conntrack event stream failed: .*; reading the whole table at every scrape from now on$/m,
  );
  await tracer.detach();
  // The table is now read at each scrape, and says so.
  const after = await exporter.metrics();
  assert.equal(after.get(SUCCESS), 1);
  assert.equal(after.get(open), 5);
  assert.deepEqual(mode(after), ['conntrack_exporter_table_mode{mode="dump"}']);
  // And keeps up with changes, which no event reports now.
  await startActor(ns, { mode: 'connect', host: '127.0.0.1', port: server.port, count: 1 });
  assert.equal((await exporter.metrics()).get(open), 6);
  assert.equal(await exporter.stop(), 0, 'the process stayed up and stops cleanly');
});

test('events mode: events the kernel dropped (ENOBUFS) are repaired by a re-read', async (t) => {
  const ns = await createNamespace(t);
  const server = await startActor(ns, { mode: 'listen', address: '127.0.0.1', port: 0 });
  const open = OPEN.replace('port="0"', `port="${server.port}"`);
  const exporter = await startExporter(ns, ['--mode', 'events', '--no-resolve-hosts']);
  // Once: the first read after an event says the kernel dropped events.
  const tracer = await injectFaults(t, exporter.process.pid!, 'recvmmsg:error=ENOBUFS:when=1');
  await startActor(ns, { mode: 'connect', host: '127.0.0.1', port: server.port, count: 4 });
  const value = (metrics: Map<string, number>, name: string, labels?: Record<string, string>) =>
    metrics.get(seriesKey(name, labels));
  const repaired = await waitFor(
    async () => {
      const metrics = await exporter.metrics();
      return (
        value(metrics, 'conntrack_exporter_resyncs_total', { reason: 'overflow' }) === 1 && metrics
      );
    },
    30_000,
    'the re-read after the overflow',
  );
  await tracer.detach();
  assert.equal(value(repaired, 'conntrack_exporter_event_overflows_total'), 1);
  assert.equal(value(repaired, open), 4);
  // Still kept from events afterwards.
  await startActor(ns, { mode: 'connect', host: '127.0.0.1', port: server.port, count: 1 });
  const later = await waitFor(
    async () => {
      const metrics = await exporter.metrics();
      return value(metrics, open) === 5 && metrics;
    },
    30_000,
    'the next connection',
  );
  assert.equal(value(later, 'conntrack_exporter_resyncs_total', { reason: 'overflow' }), 1);
  assert.equal(value(later, 'conntrack_exporter_table_mode', { mode: 'events' }), 1);
  assert.equal(await exporter.stop(), 0);
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

test('SIGTERM ends a busy exporter cleanly within 5 s', async (t) => {
  const ns = await createNamespace(t);
  const exporter = await startExporter(ns, ['--mode', 'dump', '--no-resolve-hosts']);
  const churn = ns.spawn([process.execPath, '--import', 'tsx', CHURN, '300', '0']);
  t.after(() => void churn.kill('SIGTERM'));
  // Busy: a table of some size, changing while it is read.
  await waitFor(
    async () => ((await exporter.metrics()).get('conntrack_table_entries') ?? 0) > 1000,
    60_000,
    'a busy table',
  );
  const load = ns.spawn(
    [
      process.execPath,
      '--import',
      'tsx',
      path.join(__dirname, '..', 'helpers', 'http-load.ts'),
    ].concat(['127.0.0.1', '9318', '200', '20', '1000']),
  );
  t.after(() => void load.kill('SIGKILL'));
  // And holding idle and slowloris connections, while scraping 20 at a time.
  const [holding] = (await once(load.stdout!.setEncoding('utf8'), 'data')) as [string];
  assert.match(holding, /"phase":"holding","open":200/);
  const started = Date.now();
  const code = await exporter.stop();
  const seconds = (Date.now() - started) / 1000;
  assert.equal(code, 0);
  // The exporter gives in-flight work 5 s; the second more is the signal's
  // and the exit's way through a loaded machine.
  assert.ok(seconds < 6, `stopped after ${seconds} s`);
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

test("the kernel's statistics: a failed read leaves their samples out, is counted, warned about once, then recovers", async (t) => {
  const ns = await createNamespace(t);
  const exporter = await startExporter(ns, ['--mode', 'events', '--no-resolve-hosts']);
  const STATS = /^conntrack_kernel_stat_\w+_total$/;
  const FAILURES = 'conntrack_exporter_kernel_stats_read_failures_total';
  const before = await exporter.metrics();
  assert.ok(pick(before, STATS).size > 0);
  assert.equal(before.get(FAILURES), 0);

  // Every sendto() fails with ENOBUFS: the statistics' request is the only
  // one here (on its socket, kept open between reads and opened anew after
  // a failure; the HTTP answers go out with writev, the events come in with
  // recvmmsg, and the addresses are not read again while none changes).
  const tracer = await injectFaults(t, exporter.process.pid!, 'sendto:error=ENOBUFS');
  for (let scrape = 1; scrape <= 3; scrape++) {
    const during = await exporter.metrics();
    assert.equal(pick(during, STATS).size, 0, 'no sample instead of a wrong one');
    assert.equal(during.get(FAILURES), scrape);
    assert.equal(pick(during, /^conntrack_exporter_build_info$/).size, 1, 'the rest is served');
  }
  const warnings = exporter
    .stderr()
    .split('\n')
    .filter((line) => line.includes("cannot read the kernel's conntrack statistics"));
  assert.deepEqual(warnings, [
    "conntrack-exporter: warning: cannot read the kernel's conntrack statistics: mnl_socket_sendto(GET_STATS_CPU): No buffer space available; the conntrack_kernel_stat_* samples are left out until a read works",
  ]);

  await tracer.detach();
  const after = await exporter.metrics();
  assert.deepEqual(pick(after, STATS), pick(before, STATS));
  assert.equal(after.get(FAILURES), 3);
  assert.match(
    exporter.stderr(),
    /conntrack-exporter: the kernel's conntrack statistics are read again\n/,
  );
  assert.equal(await exporter.stop(), 0);
});
