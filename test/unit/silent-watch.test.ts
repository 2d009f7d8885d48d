import assert from 'node:assert/strict';
import test from 'node:test';

import { SilentWatch, SilentWatchOptions } from '../../src/events/silent-watch';
import { FakeClock } from '../helpers/fake-clock';
import { FakeLookup, FakeSilentList } from '../helpers/silent-list';

const keys = (count: number, from = 0) =>
  Array.from({ length: count }, (_, i) => `k${String(from + i).padStart(4, '0')}`);

const lines = (listed: readonly string[]) => listed.map((key) => `${key}|1|3`).join('\n');

/**
 * A watch over a list of silent keys whose lookups find every entry
 * unchanged at once (or answer as `lookup` says).
 */
function setUp(
  silent: string[],
  lookup?: (asked: readonly string[]) => ReturnType<FakeLookup>,
  overrides: Partial<SilentWatchOptions> = {},
) {
  const clock = new FakeClock();
  const state = { may: true };
  /** When each key was checked. */
  const checks: { at: number; keys: readonly string[] }[] = [];
  const fallbacks: string[] = [];
  let checkedCalls = 0;
  const list = new FakeSilentList((asked) => {
    checks.push({ at: clock.now, keys: asked });
    return lookup?.(asked) ?? Promise.resolve(asked.map(() => ({ gone: false, state: 3 })));
  });
  list.replace(lines(silent));
  const watch = new SilentWatch({
    intervalMs: 10_000,
    tickMs: 1_000,
    remaining: () => list.remaining,
    rewind: () => list.rewind(),
    check: async (count) => (await list.check(count)).wrapped,
    mayCheck: () => state.may,
    checked: () => checkedCalls++,
    fallback: (error) => fallbacks.push(error.message),
    now: clock.time,
    schedule: clock.schedule,
    ...overrides,
  });
  const checkedAt = (key: string) => checks.filter((c) => c.keys.includes(key)).map((c) => c.at);
  return {
    clock,
    state,
    list,
    checks,
    fallbacks,
    watch,
    checkedAt,
    checkedCalls: () => checkedCalls,
  };
}

test('each silent entry is checked once per interval, in equal slices a tick apart', async () => {
  const all = keys(100);
  const { clock, checks, watch, checkedAt } = setUp(all);
  watch.start();
  await clock.advance(10_000);
  assert.deepEqual(
    checks.map((c) => [c.at, c.keys.length]),
    Array.from({ length: 10 }, (_, i) => [(i + 1) * 1000, 10]),
  );
  for (const key of all) assert.equal(checkedAt(key).length, 1, key);
  // The next round checks every one again, each within an interval of the last time.
  await clock.advance(10_000);
  for (const key of all) {
    const [first, second] = checkedAt(key);
    assert.ok(second !== undefined && first !== undefined && second - first <= 10_000, key);
  }
  watch.stop();
  assert.equal(clock.pending, 0);
});

test('entries no longer silent are not asked for; an empty round asks nothing', async () => {
  const all = keys(20);
  const { clock, list, checks, watch } = setUp(all);
  watch.start();
  await clock.advance(1_000);
  assert.deepEqual(checks[0]?.keys, all.slice(0, 2));
  // Events named these meanwhile.
  for (const key of all.slice(2, 10)) list.forget(key);
  await clock.advance(9_000);
  const asked = checks.flatMap((c) => c.keys);
  assert.deepEqual(asked, [...all.slice(0, 2), ...all.slice(10)]);
  for (const key of all) list.forget(key);
  const before = checks.length;
  await clock.advance(30_000);
  assert.equal(checks.length, before);
});

test('ticks held back by a read make later slices larger, not the round longer', async () => {
  const all = keys(100);
  const { clock, state, checks, watch, checkedAt } = setUp(all);
  watch.start();
  state.may = false;
  await clock.advance(6_000);
  assert.equal(checks.length, 0, 'no lookup while a read runs or waits');
  state.may = true;
  await clock.advance(4_000);
  assert.deepEqual(
    checks.map((c) => c.keys.length),
    [25, 25, 25, 25],
  );
  for (const key of all) assert.equal(checkedAt(key).length, 1, key);
});

test('one check at a time: a slow lookup delays the next slice until it ends', async () => {
  let finish: (() => void) | undefined;
  const started: number[] = [];
  const { clock, watch, checkedCalls } = setUp(keys(10), (asked) => {
    started.push(clock.now);
    return new Promise((resolve) => {
      finish = () => resolve(asked.map(() => ({ gone: false, state: 3 })));
    });
  });
  watch.start();
  await clock.advance(5_000);
  assert.deepEqual(started, [1_000]);
  assert.equal(watch.busy, true);
  finish?.();
  await clock.advance(0);
  assert.equal(checkedCalls(), 1);
  // Behind its pace: the next slice starts as soon as the last ended.
  assert.deepEqual(started, [1_000, 5_000]);
});

test('a failed lookup asks for the fallback once, then waits an interval before looking up again', async () => {
  let fail = true;
  const { clock, checks, fallbacks, watch } = setUp(keys(10), (asked) =>
    fail
      ? Promise.reject(new Error('EPERM'))
      : Promise.resolve(asked.map(() => ({ gone: false, state: 3 }))),
  );
  watch.start();
  await clock.advance(1_000);
  assert.deepEqual(fallbacks, ['EPERM']);
  assert.equal(watch.busy, false);
  fail = false;
  await clock.advance(9_999);
  assert.equal(checks.length, 1, 'the fallback read checked them all');
  await clock.advance(1_000);
  assert.equal(checks.length, 2);
  assert.deepEqual(fallbacks, ['EPERM']);
});

test('restart: entries found silent mid-round are checked from the next tick', async () => {
  const { clock, list, checks, watch, checkedAt } = setUp(keys(100));
  watch.start();
  await clock.advance(3_000);
  const added = keys(50, 1000);
  list.replace(lines([...list.keys(), ...added]));
  watch.restart();
  await clock.advance(10_000);
  for (const key of added) {
    const [at] = checkedAt(key);
    assert.ok(at !== undefined && at <= 13_000, `${key} checked at ${at}`);
  }
  assert.ok(checks.length > 0);
});
