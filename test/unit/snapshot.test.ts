import assert from 'node:assert/strict';
import test from 'node:test';

import { SingleFlight } from '../../src/collectors/single-flight';
import { Snapshot } from '../../src/table/reader';

test('everything asking at the same time shares one read; a later ask reads again', async () => {
  let reads = 0;
  const source = new SingleFlight(async (): Promise<Snapshot> => {
    reads++;
    await new Promise((resolve) => setTimeout(resolve, 10));
    return { groups: [], durationSeconds: reads };
  });
  const [a, b, c] = await Promise.all([source.get(), source.get(), source.get()]);
  assert.equal(reads, 1);
  assert.equal(a, b);
  assert.equal(b, c);
  const d = await source.get();
  assert.equal(reads, 2);
  assert.notEqual(d, a);
});

test('a failed read is not cached for the next ask', async () => {
  let reads = 0;
  const source = new SingleFlight(async (): Promise<Snapshot> => {
    reads++;
    if (reads === 1) throw new Error('boom');
    return { durationSeconds: 0 };
  });
  await assert.rejects(source.get(), /boom/);
  assert.deepEqual(await source.get(), { durationSeconds: 0 });
});
