/**
 * A read of the table keeps V8's young generation from growing. Each case
 * runs in a fresh node, whose young generation starts small.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import test from 'node:test';

const MODULE = path.join(__dirname, '..', '..', 'src', 'events', 'young-generation.ts');

/**
 * The young generation's size (MB) just before and just after making 300k
 * objects that live on, with or without the wrapper. Before and after, in
 * the same process: what loading the modules did to it first (tsx compiles
 * them, more so on a busy machine) is not the read's doing.
 */
function youngGenerationAroundRead(
  wrapped: boolean,
  nodeArgs: string[] = [],
): { before: number; after: number } {
  const script = `
    const v8 = require('node:v8');
    const { withoutYoungGenerationGrowth } = require(${JSON.stringify(MODULE)});
    const young = () =>
      v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space').space_size / 1e6;
    const read = () => {
      const table = new Map();
      for (let i = 0; i < 300000; i++) table.set('key ' + i, { id: i, state: 3, since: i });
      return table;
    };
    const before = young();
    globalThis.table = ${wrapped ? 'withoutYoungGenerationGrowth(read)' : 'read()'};
    process.stdout.write(JSON.stringify({ before, after: young() }));
  `;
  const out = execFileSync(process.execPath, [...nodeArgs, '--import', 'tsx', '-e', script], {
    encoding: 'utf8',
  });
  return JSON.parse(out) as { before: number; after: number };
}

test('a read of the table grows the young generation far less than without the wrapper', () => {
  const wrapped = youngGenerationAroundRead(true);
  const bare = youngGenerationAroundRead(false);
  const grown = ({ before, after }: { before: number; after: number }) => after - before;
  // Node 20 leaves it as it was; Node 24's and 26's V8 still add a step
  // (1 MiB) of their own. Without the wrapper V8 up to Node 24 grows it to
  // 32 MiB for such a read, Node 26's to 9 MiB.
  assert.ok(
    grown(wrapped) * 2 < grown(bare),
    `young generation around a wrapped read ${JSON.stringify(wrapped)} MB, a bare one ${JSON.stringify(bare)} MB`,
  );
});

test('a growth factor chosen on the command line is left alone', () => {
  // With the user's factor of 4 the young generation grows as they asked.
  const { before, after } = youngGenerationAroundRead(true, ['--semi-space-growth-factor=4']);
  assert.ok(after > 16 && after > before, `young generation ${before} -> ${after} MB`);
});
