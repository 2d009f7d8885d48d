/**
 * Exercises the sanitizer build of the addon (test/native/memcheck.sh) the
 * way the exporter does, inside a throwaway namespace: concurrent dumps of a
 * table with live entries, concurrent lookups of entries there and gone, a
 * malformed lookup, the list of silent entries (checks in slices, entries
 * forgotten and the list replaced while a check runs, compaction), concurrent
 * reads of the kernel statistics, event streams
 * under churn (one with a tiny buffer, so that events overflow), streams
 * closed twice, dropped without close, and, with "denied", every failure
 * path without CAP_NET_ADMIN.
 *
 *   node memcheck-driver.ts ADDON_PATH full|denied|relay
 *
 * Exits 0 when the addon behaved; the sanitizer decides about memory.
 */
import assert from 'node:assert/strict';
import net from 'node:net';

import type { NativeAddon, NativeEventStream } from '../../src/conntrack/addon';
import type { NativeRelay } from '../../src/proxy/relay-addon';
import { decodeKernelStats } from '../../src/conntrack/kernel-stats';
import { decodeRecords } from '../../src/conntrack/record';
import { relayMemcheck } from './memcheck-relay';

const [addonPath = '', mode = 'full'] = process.argv.slice(2);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const parts = require(addonPath) as { conntrack: NativeAddon; relay: NativeRelay };
const addon = parts.conntrack;
const gc = (globalThis as { gc?: () => void }).gc;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await pause(20);
  }
}

/** Opens `count` loopback connections and keeps them; close() ends them. */
async function holdConnections(count: number): Promise<{ port: number; close(): void }> {
  const accepted: net.Socket[] = [];
  const server = net.createServer((socket) => {
    // The churn resets its connections to this server.
    socket.on('error', () => undefined);
    accepted.push(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const clients = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Socket>((resolve) => {
          const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
        }),
    ),
  );
  return {
    port,
    close: () => {
      for (const socket of [...clients, ...accepted]) socket.destroy();
      server.close();
    },
  };
}

async function churn(port: number, count: number): Promise<void> {
  await Promise.all(
    Array.from(
      { length: count },
      (_, i) =>
        new Promise<void>((resolve) => {
          const socket = net.connect(port, '127.0.0.1', () => {
            if (i % 2 === 0) socket.resetAndDestroy();
            else socket.end();
          });
          socket.on('error', () => undefined);
          socket.once('close', () => resolve());
        }),
    ),
  );
}

interface Counts {
  records: number;
  overflows: number;
  /** Records delivered since the last overflow. */
  recordsAfterOverflow: number;
  /** Batches after an overflow that had no records (a drain reported alone). */
  emptyBatches: number;
  errors: string[];
}

const counts = (): Counts => ({
  records: 0,
  overflows: 0,
  recordsAfterOverflow: 0,
  emptyBatches: 0,
  errors: [],
});

function openStream(bufferBytes: number, seen: Counts): NativeEventStream {
  return new addon.EventStream(
    bufferBytes,
    (records) => {
      // An empty batch must arrive as a usable (not detached) buffer.
      const count = decodeRecords(records).length;
      if (count === 0) seen.emptyBatches++;
      seen.records += count;
      seen.recordsAfterOverflow += count;
    },
    () => {
      seen.overflows++;
      seen.recordsAfterOverflow = 0;
    },
    (error) => seen.errors.push(error.message),
  );
}

async function full(): Promise<void> {
  const held = await holdConnections(200);
  for (let round = 0; round < 10; round++) {
    const buffers = await Promise.all(Array.from({ length: 4 }, () => addon.dump()));
    for (const buffer of buffers) assert.ok(decodeRecords(buffer).length >= 200);
    // Half freed at once, as the live table does; the rest by the collector.
    for (const buffer of buffers.slice(0, 2)) {
      addon.releaseRecords(buffer);
      assert.equal(buffer.byteLength, 0);
    }
  }
  // Lookups of held entries and of gone ones, IPv4 and IPv6, concurrently,
  // more than one batch of requests each.
  const held4 = decodeRecords(await addon.dump()).slice(0, 50);
  const wanted = held4.flatMap(({ original: { src, srcPort, dst, dstPort } }) => [
    `4|${src}|${srcPort}|${dst}|${dstPort}|0`,
    `4|${src}|1|${dst}|${dstPort}|0`,
    `6|2001:db8::1|${srcPort}|2001:db8::2|443|0`,
  ]);
  const keys = Array.from({ length: 5 }, () => wanted).flat();
  const looked = await Promise.all(Array.from({ length: 4 }, () => addon.lookup(keys.join('\n'))));
  for (const found of looked) assert.equal(decodeRecords(found).length, 5 * held4.length);
  for (const bad of [
    '4|not an address|1|127.0.0.1|2|0',
    '4|127.0.0.1|70000|127.0.0.1|2|0',
    '5|a',
  ]) {
    assert.throws(() => addon.lookup(bad), TypeError);
  }
  // The same through check(): one answer byte per key, more than one batch.
  const checks = held4.flatMap(({ id, original: { src, srcPort, dst, dstPort } }) => [
    `4|${src}|${srcPort}|${dst}|${dstPort}|0|${id}`,
    `4|${src}|1|${dst}|${dstPort}|0|${id}`,
  ]);
  const many = Array.from({ length: 6 }, () => checks).flat();
  const answers = await Promise.all(Array.from({ length: 2 }, () => addon.check(many.join('\n'))));
  for (const answer of answers) assert.equal(answer.byteLength, many.length);
  assert.throws(() => addon.check('4|127.0.0.1|1|127.0.0.1|2|0'), TypeError);
  await silentList(held4);

  const roomy = counts();
  const tiny = counts();
  const streams: NativeEventStream[] = [openStream(1 << 20, roomy), openStream(4096, tiny)];
  // Dropped without close(): freed by the finalizer or at teardown.
  openStream(1 << 16, counts());
  for (let round = 0; round < 5; round++) {
    await Promise.all([
      churn(held.port, 300),
      addon.dump().then(decodeRecords),
      // The statistics read again and again (one socket kept) during the churn.
      ...Array.from({ length: 4 }, () =>
        Promise.resolve().then(() => assert.ok(decodeKernelStats(addon.kernelStats()).cpus >= 1)),
      ),
    ]);
  }
  // 1,500 connections made and ended, several events each.
  await waitUntil(() => roomy.records > 1000, 60_000, 'events of the churn');
  // After its overflows, the tiny buffer's stream still delivers events.
  if (tiny.overflows > 0 && tiny.errors.length === 0) {
    await churn(held.port, 3);
    await waitUntil(() => tiny.recordsAfterOverflow > 0, 60_000, 'events after an overflow');
  }
  for (const stream of streams) {
    stream.close();
    stream.close();
  }
  assert.ok(roomy.records > 1000, `events seen: ${roomy.records}`);
  assert.deepEqual(roomy.errors, []);
  // The tiny buffer overflows; how the stream reports that (overflow, or an
  // error that closes it) is the events code's business, its memory is ours.
  process.stdout.write(
    `memcheck driver: dumps and ${roomy.records} events decoded; tiny buffer: ` +
      `${tiny.overflows} overflows, ${tiny.emptyBatches} empty batches, ` +
      `errors: ${tiny.errors.join('; ') || 'none'}\n`,
  );
  held.close();
}

/**
 * The list of silent entries: held entries (one under another id) and 3,000
 * gone ones, checked in slices larger than a batch of requests; entries
 * forgotten while a check runs; the list replaced while one runs; the dead
 * entries compacted away; a list dropped with entries in it.
 */
async function silentList(held: ReturnType<typeof decodeRecords>): Promise<void> {
  const line = (src: string, srcPort: number, dst: string, dstPort: number, id: number) =>
    `4|${src}|${srcPort}|${dst}|${dstPort}|0|${id}|3`;
  const heldLines = held.map(({ id, original: { src, srcPort, dst, dstPort } }, i) =>
    line(src, srcPort, dst, dstPort, i === 0 ? (id ^ 1) >>> 0 : id),
  );
  const goneLines = Array.from({ length: 3_000 }, (_, i) =>
    line('127.0.0.2', 1 + i, '127.0.0.3', 9, 1),
  );
  const list = new addon.SilentList();
  list.replace([...heldLines, ...goneLines].join('\n'));
  assert.equal(list.size, held.length + 3_000);
  let changes = 0;
  for (;;) {
    const running = list.check(700);
    for (let i = 0; i < 10; i++) list.forget(`4|127.0.0.2|${2_990 - i}|127.0.0.3|9|0`);
    const result = await running;
    changes += result.changes === '' ? 0 : result.changes.split('\n').length;
    if (result.wrapped) break;
  }
  // The gone ones, less those forgotten first; the one under another id.
  assert.ok(changes >= 2_991 && changes <= 2_990 + held.length, `changes: ${changes}`);
  assert.ok(list.keys().length < held.length + 3_000);
  // Compacted meanwhile, its lines moved: an entry is still found by its key.
  const listed = list.size;
  list.forget(heldLines[1]!.split('|').slice(0, 6).join('|'));
  assert.equal(list.size, listed - 1);
  // Compacted before this one; then replaced while it runs (its answers dropped).
  const replaced = list.check(10_000);
  list.replace(heldLines.slice(1).join('\n'));
  assert.equal((await replaced).changes, '');
  assert.equal((await list.check(10_000)).changes, '');
  assert.throws(() => list.replace('4|127.0.0.1|1|127.0.0.1|2|0|1'), TypeError);
  assert.equal(list.size, held.length - 1);
  const dropped = new addon.SilentList();
  dropped.replace(goneLines.join('\n'));
  dropped.forget(`4|127.0.0.2|1|127.0.0.3|9|0`);
}

async function denied(): Promise<void> {
  const list = new addon.SilentList();
  list.replace('4|127.0.0.1|1|127.0.0.1|2|0|1|3');
  for (let i = 0; i < 20; i++) {
    await assert.rejects(addon.dump(), (error: NodeJS.ErrnoException) => error.code === 'EPERM');
    await assert.rejects(
      addon.lookup('4|127.0.0.1|1|127.0.0.1|2|0'),
      (error: NodeJS.ErrnoException) => error.code === 'EPERM',
    );
    await assert.rejects(
      addon.check('4|127.0.0.1|1|127.0.0.1|2|0|1'),
      (error: NodeJS.ErrnoException) => error.code === 'EPERM',
    );
    // The same list each time: a failed check ends like one that succeeded.
    await assert.rejects(list.check(1), (error: NodeJS.ErrnoException) => error.code === 'EPERM');
    assert.throws(
      () => addon.kernelStats(),
      (error: NodeJS.ErrnoException) => error.code === 'EPERM',
    );
  }
  for (let i = 0; i < 20; i++) {
    assert.throws(
      () => openStream(1 << 16, counts()).close(),
      (error: NodeJS.ErrnoException) => error.code === 'EPERM',
    );
  }
  process.stdout.write(
    'memcheck driver: 20 refused dumps, lookups, checks, statistics reads and streams\n',
  );
}

void (async () => {
  if (mode === 'relay') await relayMemcheck(parts.relay);
  else await (mode === 'denied' ? denied() : full());
  // Collect what JS dropped, so that what is still allocated at exit is a leak.
  for (let i = 0; i < 5; i++) {
    gc?.();
    await pause(50);
  }
  // Node's return from main skips the exit handlers that run LeakSanitizer.
  process.exit(0);
})();
