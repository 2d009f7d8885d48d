/**
 * The public event-stream API (openEvents) from another Node program, and
 * how the exporter behaves when events cannot be had.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { createInterface } from 'node:readline';
import test from 'node:test';

import { establishedFlows, insertEntries } from '../helpers/conntrack-load';
import { seriesKey, startExporter } from '../helpers/exporter';
import { setSysctls } from '../helpers/events';
import { createNamespace, waitFor, type Namespace } from '../helpers/netns';

const PACKAGE = path.join(__dirname, '..', '..', 'dist', 'index.js');

/** Runs a CommonJS program in `ns` with `api` bound to the built package. */
function runProgram(ns: Namespace, body: string, launcher: string[] = []) {
  const script = `const api = require(${JSON.stringify(PACKAGE)});\n${body}`;
  const child = ns.spawn([...launcher, process.execPath, '-e', script]);
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, lines, exit, stderr: () => stderr };
}

async function conntrack(ns: Namespace, args: string): Promise<void> {
  const result = await ns.exec(['conntrack', ...args.split(' ')]);
  assert.equal(result.code, 0, result.stderr);
}

test('openEvents delivers typed new, update and destroy events, then closes', async (t) => {
  const ns = await createNamespace(t);
  const program = runProgram(
    ns,
    `
    const stream = api.openEvents({ receiveBufferBytes: 1 << 20 });
    stream.ref();
    stream.on('events', (events, batch) => {
      for (const { type, entry } of events) {
        console.log(JSON.stringify({ type, state: api.stateName(entry.tcpState),
          src: entry.original.src, dport: entry.original.dstPort, drained: batch.drained }));
        if (type === 'destroy') stream.close();
      }
    });
    stream.on('close', () => console.log('closed'));
    console.log('ready ' + stream.receiveBufferBytes);
  `,
  );
  await waitFor(() => program.lines[0]?.startsWith('ready'), 10_000, 'ready');
  // The kernel doubles the size asked for, for its bookkeeping.
  assert.equal(program.lines[0], `ready ${2 << 20}`);
  const tuple = '-p tcp -s 2001:db8::7 -d 2001:db8::8 --sport 4000 --dport 443';
  await conntrack(ns, `-I ${tuple} --state SYN_SENT --timeout 100`);
  await conntrack(ns, `-U ${tuple} --state ESTABLISHED`);
  await conntrack(ns, `-D ${tuple}`);
  // A UDP flow is not TCP: the stream leaves it out.
  await conntrack(ns, '-I -p udp -s 192.0.2.7 -d 192.0.2.8 --sport 53 --dport 53 --timeout 100');

  assert.equal(await program.exit, 0, program.stderr());
  const events = program.lines.slice(1, -1).map((line) => JSON.parse(line) as { type: string });
  assert.deepEqual(
    events.map(({ type, state, src, dport }: Record<string, unknown>) => [type, state, src, dport]),
    [
      ['new', 'SYN_SENT', '2001:db8::7', 443],
      ['update', 'ESTABLISHED', '2001:db8::7', 443],
      ['destroy', 'ESTABLISHED', '2001:db8::7', 443],
    ],
  );
  assert.equal(program.lines.at(-1), 'closed');
});

// The kernel filters by protocol before it queues an event: UDP events take
// no room in the socket's buffer at all. Shown against the same flood made
// of TCP events, which overflows that buffer.
for (const protocol of ['udp', 'tcp'] as const) {
  test(`only TCP events reach the socket: a flood of ${protocol} ones ${protocol === 'udp' ? 'does not fill' : 'fills'} a tiny buffer`, async (t) => {
    const ns = await createNamespace(t);
    // Reports at the marker: a TCP event to port 9999, made after the flood.
    const program = runProgram(
      ns,
      `
      const stream = api.openEvents({ receiveBufferBytes: 4096 });
      stream.ref();
      let overflows = 0;
      let events = 0;
      stream.on('overflow', () => overflows++);
      stream.on('events', (batch, { drained }) => {
        for (const { entry } of batch) {
          if (entry.original.dstPort !== 9999) {
            events++;
            continue;
          }
          console.log(JSON.stringify({ overflows, events, drained }));
          stream.close();
          return;
        }
      });
      console.log('ready');
    `,
    );
    await waitFor(() => program.lines[0] === 'ready', 30_000, 'ready');
    // Stopped, it reads nothing: whatever the kernel queues for it meanwhile
    // must fit in 4 KiB, or the kernel drops events and says so.
    program.child.kill('SIGSTOP');
    // 500 events of several hundred bytes each: far more than 4 KiB.
    const state = protocol === 'tcp' ? ' --state ESTABLISHED' : '';
    const lines = Array.from(
      { length: 500 },
      (_, i) =>
        `-I -p ${protocol} -s 192.0.2.7 -d 192.0.2.${(i % 200) + 10} --sport ${1000 + i} --dport 53${state} --timeout 100\n`,
    );
    const file = `/tmp/cte-flood-${process.pid}`;
    await ns.exec(['sh', '-c', `printf '%s' "$1" > ${file}`, 'sh', lines.join('')]);
    const loaded = await ns.exec(['conntrack', '--load-file', file]);
    await ns.exec(['rm', '-f', file]);
    assert.equal(loaded.code, 0, loaded.stderr);
    program.child.kill('SIGCONT');
    // Made after the flood was queued: the first batch it is in empties the socket.
    await conntrack(
      ns,
      '-I -p tcp -s 192.0.2.7 -d 192.0.2.9 --sport 1 --dport 9999 --state ESTABLISHED --timeout 100',
    );
    assert.equal(await program.exit, 0, program.stderr());
    const report = JSON.parse(program.lines[1]!) as {
      overflows: number;
      events: number;
      drained: boolean;
    };
    if (protocol === 'udp') {
      assert.deepEqual(report, { overflows: 0, events: 0, drained: true });
    } else {
      // The kernel reports its drops once, at the next read; what fitted arrives.
      assert.equal(report.overflows, 1);
      assert.ok(report.events > 0 && report.events < 500, `${report.events} of 500 arrived`);
      assert.equal(report.drained, true);
    }
  });
}

test('a program exits on its own with a stream left open, also from a worker thread', async (t) => {
  const ns = await createNamespace(t);
  // The worker even keeps its stream referenced, then ends: teardown closes it.
  const worker = `const api = require(${JSON.stringify(PACKAGE)});
    api.openEvents().ref();
    setTimeout(() => process.exit(0), 50);`;
  const program = runProgram(
    ns,
    `
    const { Worker } = require('node:worker_threads');
    api.openEvents().on('events', () => {});
    new Worker(${JSON.stringify(worker)}, { eval: true }).on('exit', (code) =>
      console.log('worker exit ' + code),
    );
  `,
  );
  assert.equal(await program.exit, 0, program.stderr());
  assert.deepEqual(program.lines, ['worker exit 0']);
  assert.equal(program.stderr(), '');
});

test('without CAP_NET_ADMIN openEvents throws an EPERM ConntrackError', async (t) => {
  const ns = await createNamespace(t);
  const program = runProgram(
    ns,
    `
    try { api.openEvents(); console.log('opened'); }
    catch (error) { console.log(JSON.stringify({ code: error.code, message: error.message })); }
  `,
    ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'],
  );
  assert.equal(await program.exit, 0, program.stderr());
  const result = JSON.parse(program.lines[0] ?? '{}') as { code?: string; message?: string };
  assert.equal(result.code, 'EPERM');
  assert.match(result.message ?? '', /^nfct_open\(events\): Operation not permitted$/);
});

/** An IPv4 entry ESTABLISHED in zone 0 and an IPv6 one in TIME_WAIT in zone 5. */
async function insertTwoEntries(ns: Namespace): Promise<void> {
  await conntrack(
    ns,
    '-I -p tcp -s 192.0.2.7 -d 192.0.2.8 --sport 4000 --dport 443 --state ESTABLISHED --timeout 100',
  );
  await conntrack(
    ns,
    '-I -p tcp -s 2001:db8::7 -d 2001:db8::8 --sport 4001 --dport 443 --state TIME_WAIT --timeout 100 --zone 5',
  );
}

test('lookup finds entries by original tuple and zone, leaving out those not in the table', async (t) => {
  const ns = await createNamespace(t);
  await insertTwoEntries(ns);
  const program = runProgram(
    ns,
    `
    const at = (family, src, srcPort, dst, dstPort, zone = 0) =>
      ({ family, original: { src, srcPort, dst, dstPort }, zone });
    (async () => {
      const found = await api.lookup([
        at(4, '192.0.2.7', 4000, '192.0.2.8', 443),
        at(6, '2001:db8::7', 4001, '2001:db8::8', 443, 5),
        at(6, '2001:db8::7', 4001, '2001:db8::8', 443),
        at(4, '192.0.2.7', 4999, '192.0.2.8', 443),
      ]);
      for (const entry of found) {
        console.log([entry.original.src, entry.original.srcPort, entry.zone, api.stateName(entry.tcpState)].join(' '));
      }
      await api.lookup([at(4, '2001:db8::7', 1, '192.0.2.8', 2)]).catch((error) => console.log(error.message));
    })();
  `,
  );
  assert.equal(await program.exit, 0, program.stderr());
  assert.deepEqual(program.lines.slice(0, 2).sort(), [
    '192.0.2.7 4000 0 ESTABLISHED',
    '2001:db8::7 4001 5 TIME_WAIT',
  ]);
  assert.deepEqual(program.lines.slice(2), [
    'lookup: entry 0: addresses 2001:db8::7 and 192.0.2.8 are not both IPv4',
  ]);
});

test('checkConnections tells, in order, which connections are still there and in which state', async (t) => {
  const ns = await createNamespace(t);
  await insertTwoEntries(ns);
  const program = runProgram(
    ns,
    `
    const { checkConnections } = require(${JSON.stringify(path.join(path.dirname(PACKAGE), 'conntrack'))});
    (async () => {
      const entries = await api.dump();
      const key = (e) => [e.family, e.original.src, e.original.srcPort, e.original.dst, e.original.dstPort, e.zone].join('|');
      const [v4, v6] = ['192.0.2.7', '2001:db8::7'].map((src) => entries.find((e) => e.original.src === src));
      // Many of each, beyond one batch of requests; then another id, and a tuple not in the table.
      const keys = [...Array(600).fill(key(v4)), key(v6), key(v4), '4|192.0.2.7|4999|192.0.2.8|443|0'];
      const ids = [...Array(600).fill(v4.id), v6.id, (v4.id + 1) >>> 0, 1];
      const checked = await checkConnections(keys, ids);
      const show = (c) => (c.gone ? 'gone' : api.stateName(c.state));
      console.log(checked.length, new Set(checked.slice(0, 600).map(show)).size, ...checked.slice(599).map(show));
    })();
  `,
  );
  assert.equal(await program.exit, 0, program.stderr());
  assert.deepEqual(program.lines, ['603 1 ESTABLISHED TIME_WAIT gone gone']);
});

test('the list of silent entries reports only what changed, each gone entry once, and when a round wraps', async (t) => {
  const ns = await createNamespace(t);
  // Ten entries from 10.1.0.1-10 port 20000-20009 to 10.9.0.1:443.
  await insertEntries(ns, establishedFlows(10, 1));
  const program = runProgram(
    ns,
    `
    const { NativeSilentList, silentLine } = require(${JSON.stringify(path.join(path.dirname(PACKAGE), 'conntrack', 'silent-list'))});
    const { execFileSync } = require('node:child_process');
    const tuple = (i) => '-p tcp -s 10.1.0.' + (i + 1) + ' -d 10.9.0.1 --sport ' + (20000 + i) + ' --dport 443';
    const conntrack = (args) => execFileSync('conntrack', args.split(' '), { stdio: 'ignore' });
    const key = (e) => [e.family, e.original.src, e.original.srcPort, e.original.dst, e.original.dstPort, e.zone].join('|');
    const show = ({ changes, checked, wrapped }) => JSON.stringify({ checked, wrapped,
      changes: changes.map(({ key, now }) => key.split('|')[2] + ' ' + (now.gone ? 'gone' : api.stateName(now.state))) });
    (async () => {
      const entries = (await api.dump()).sort((a, b) => a.original.srcPort - b.original.srcPort);
      const list = new NativeSilentList();
      // Listed under another kernel id, as if its tuple were another connection's now. (A
      // tuple deleted and inserted again may get the same id back: the kernel derives it
      // from the entry's address in memory, which is often reused at once.)
      const ids = entries.map((e, i) => (i === 2 ? (e.id ^ 1) >>> 0 : e.id));
      list.replace(entries.map((e, i) => silentLine(key(e), ids[i], e.tcpState)).join('\\n'));
      console.log('listed', list.size, list.remaining);
      console.log(show(await list.check(100)));
      conntrack('-D ' + tuple(0));
      conntrack('-U ' + tuple(1) + ' --state TIME_WAIT');
      list.forget(key(entries[3]));
      conntrack('-D ' + tuple(3));
      console.log(show(await list.check(100)));
      console.log(show(await list.check(100)));
      console.log(show(await list.check(4)), list.remaining);
      console.log(show(await list.check(4)), list.remaining);
      const running = list.check(1);
      await list.check(1).catch((error) => console.log(error.message));
      await running;
      try { list.replace('4|10.1.0.1|20000|10.9.0.1|443|0|x|3'); } catch (error) { console.log(error.message); }
      console.log('listed', list.size, list.keys().length);
    })();
  `,
  );
  assert.equal(await program.exit, 0, program.stderr());
  const result = (checked: number, wrapped: boolean, changes: string[] = []) =>
    JSON.stringify({ checked, wrapped, changes });
  assert.deepEqual(program.lines, [
    'listed 10 10',
    result(10, true, ['20002 gone']),
    // The forgotten one is not asked about; the gone ones leave the list.
    result(8, true, ['20000 gone', '20001 TIME_WAIT']),
    result(7, true),
    `${result(4, false)} 3`,
    `${result(3, true)} 7`,
    'SilentList.check: a check is already under way',
    "SilentList.replace: line 0 '4|10.1.0.1|20000|10.9.0.1|443|0|x|3' is malformed",
    'listed 7 7',
  ]);
});

test('with conntrack events off the exporter says so once and reads the table each scrape', async (t) => {
  const ns = await createNamespace(t);
  await setSysctls(ns, { 'net.netfilter.nf_conntrack_events': 0 });
  const exporter = await startExporter(ns, ['--no-resolve-hosts']);
  t.after(() => exporter.stop());
  await conntrack(
    ns,
    '-I -p tcp -s 192.0.2.7 -d 192.0.2.8 --sport 4000 --dport 443 --state ESTABLISHED --timeout 100',
  );
  const metrics = await exporter.metrics();
  assert.equal(metrics.get(seriesKey('conntrack_exporter_table_mode', { mode: 'dump' })), 1);
  assert.equal(
    metrics.get(
      seriesKey('conntrack_open_connections', {
        direction: 'forwarded',
        host: '192.0.2.8',
        port: '443',
      }),
    ),
    1,
  );
  assert.equal(metrics.get('conntrack_connections_opened_total'), undefined);
  const warnings = exporter.stderr().match(/conntrack events are off.*/g) ?? [];
  assert.deepEqual(warnings, [
    'conntrack events are off (net.netfilter.nf_conntrack_events=0); reading the whole table at ' +
      'every scrape instead (--mode dump). Set it to 1 to use events mode',
  ]);
});
