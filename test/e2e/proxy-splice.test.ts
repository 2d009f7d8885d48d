/**
 * The relay's two ways of moving bytes: splice(2) through a pipe once a
 * direction carries a stream, and the copy it falls back to where splice
 * is refused. strace shows which ran and refuses splice on demand (EINVAL,
 * as for a socket type without it); either way every byte arrives and the
 * counts are exact.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type TestContext } from 'node:test';

import {
  CLI,
  connect,
  echoTarget,
  proxyArgs,
  randomBytes,
  readAll,
  scrapeUntil,
  sha256,
  startProxy,
  within,
  writeAll,
} from '../helpers/proxy-net';

const P = 'conntrack_exporter_proxy_';
const ID = '{id="x"}';
const SIZE = 4 * 1024 * 1024 + 1;

/**
 * Echoes SIZE random bytes through a proxy run under strace with `inject`
 * (strace's -e inject value, or none); returns strace's log of splice calls.
 */
async function echoThrough(t: TestContext, inject?: string): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'proxy-splice-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const log = path.join(dir, 'strace.log');
  const strace = ['strace', '-f', '--seccomp-bpf', '-qq', '-e', 'trace=splice', '-o', log];
  if (inject !== undefined) strace.push('-e', `inject=splice:${inject}`);
  const proxy = await startProxy(t, CLI, proxyArgs(await echoTarget(t), ['--id', 'x']), strace);
  // A traced process outlives a killed strace: it is killed on its own.
  const tracer = proxy.child.pid ?? 0;
  const node = Number(readFileSync(`/proc/${tracer}/task/${tracer}/children`, 'utf8').trim());
  t.after(() => {
    try {
      process.kill(node, 'SIGKILL');
    } catch {
      // Gone already.
    }
  });

  const data = randomBytes(SIZE);
  const client = await connect(t, proxy.port);
  const echoed = readAll(client);
  await writeAll(client, data);
  assert.equal(sha256(await within(echoed, 'the echo', 60_000)), sha256(data));

  const series = await scrapeUntil(
    proxy,
    (s) => s.get(`${P}active_inbound_connections${ID}`) === 0,
  );
  for (const name of ['client_received', 'target_sent', 'target_received', 'client_sent']) {
    assert.equal(series.get(`${P}${name}_bytes_total${ID}`), SIZE, name);
  }
  process.kill(node, 'SIGTERM');
  await within(proxy.exited, 'the proxy to exit');
  return readFileSync(log, 'utf8');
}

/** The results of the traced splice calls: byte counts, or error names. */
function spliceResults(log: string): string[] {
  return [...log.matchAll(/splice\(.*\) = (\d+|-1 \w+)/g)].map((match) => match[1] ?? '');
}

test('a stream moves by splice: most bytes never pass through the proxy', async (t) => {
  const results = spliceResults(await echoThrough(t));
  const moved = results.filter((result) => /^\d+$/.test(result)).map(Number);
  // Both directions, in and out of the pipe: four times the stream, less
  // the reads that were copied before the direction took a pipe.
  const spliced = moved.reduce((sum, bytes) => sum + bytes, 0);
  assert.ok(spliced >= 3 * SIZE, `${spliced} bytes spliced of ${4 * SIZE}`);
  assert.ok(!results.some((result) => result.includes('EINVAL')), results.join());
});

test('splice refused from the start: the direction falls back to copying, counts exact', async (t) => {
  const results = spliceResults(await echoThrough(t, 'error=EINVAL'));
  // Once per direction, then each copies for the rest of the connection.
  assert.deepEqual(results, ['-1 EINVAL', '-1 EINVAL']);
});

test('splice refused with bytes in the pipe: they are copied out, none lost', async (t) => {
  // Per thread, the first splice fills the pipe and the second, which
  // would empty it, is refused; every later one works.
  const results = spliceResults(await echoThrough(t, 'error=EINVAL:when=2'));
  const refused = results.indexOf('-1 EINVAL');
  assert.ok(refused > 0, results.join());
  // The call before it filled the pipe.
  assert.match(results[refused - 1] ?? '', /^\d+$/, results.join());
});
