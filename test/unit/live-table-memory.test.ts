import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import test from 'node:test';

const LIVE_TABLE = path.join(__dirname, '..', '..', 'src', 'model', 'live-table.ts');
const ENTRIES = 200_000;
// Key, map slot and record: measured at about 170 bytes on Node 20 (x64).
const MAX_BYTES_PER_ENTRY = 256;

// A separate process with --expose-gc, so the heap is measured after full
// collections and nothing else of the test runner is in it.
const PROGRAM = `
  const { LiveTable } = require(${JSON.stringify(LIVE_TABLE)});
  const table = new LiveTable({ localAddresses: new Set(['192.0.2.1']) });
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < ${ENTRIES}; i++) {
    const remote = '198.51.' + ((i >> 16) & 255) + '.' + ((i >> 8) & 255);
    const port = 1024 + (i % 60000);
    table.apply({ type: 'new', entry: {
      family: 4, tcpState: 3, status: 0, mark: 0, zone: 0, id: i + 1, timeout: 100,
      startNs: BigInt(Date.now()) * 1000000n,
      original: { src: '192.0.2.1', srcPort: port, dst: remote, dstPort: 443 + (i & 7) },
      reply: { src: remote, srcPort: 443 + (i & 7), dst: '192.0.2.1', dstPort: port },
    } });
  }
  gc();
  console.log(JSON.stringify({ size: table.size, bytes: process.memoryUsage().heapUsed - before }));
`;

test('a tracked connection costs a small, bounded amount of memory', () => {
  const result = spawnSync(
    process.execPath,
    ['--expose-gc', '--require', require.resolve('tsx/cjs'), '-e', PROGRAM],
    { encoding: 'utf8', timeout: 120_000 },
  );
  assert.equal(result.status, 0, result.stderr);
  const { size, bytes } = JSON.parse(result.stdout) as { size: number; bytes: number };
  assert.equal(size, ENTRIES);
  const perEntry = bytes / ENTRIES;
  assert.ok(perEntry < MAX_BYTES_PER_ENTRY, `${perEntry.toFixed(0)} bytes per entry`);
});
