import assert from 'node:assert/strict';
import test from 'node:test';
import { Gauge, Registry } from 'prom-client';

import {
  partOfFamily,
  registerScrapeTiming,
  SCRAPE_PARTS,
  SCRAPE_TIMING_VARIABLE,
  ScrapeTiming,
  timingFromEnvironment,
} from '../../src/collectors/scrape-timing';
import { parseMetrics } from '../helpers/proxy-net';

/** A clock that reads 1, 2, 3, … seconds: each read is one second later. */
function steppingClock(): { read: () => number; reads: () => number } {
  let now = 0;
  return { read: () => ++now, reads: () => now };
}

test('off unless the variable is 1', () => {
  assert.ok(timingFromEnvironment({ [SCRAPE_TIMING_VARIABLE]: '1' }) instanceof ScrapeTiming);
  assert.equal(timingFromEnvironment({}), undefined);
  assert.equal(timingFromEnvironment({ [SCRAPE_TIMING_VARIABLE]: 'yes' }), undefined);
});

test('a timed part adds the CPU time between its start and end, also when it throws', () => {
  const clock = steppingClock();
  const timing = new ScrapeTiming(clock.read);
  assert.equal(
    timing.time('series', () => 'done'),
    'done',
  );
  assert.throws(() =>
    timing.time('series', () => {
      throw new Error('boom');
    }),
  );
  timing.time('text', () => undefined);
  assert.equal(timing.seconds.series, 2);
  assert.equal(timing.seconds.text, 1);
  assert.equal(timing.seconds.table, 0);
});

test("prom-client's families are timed by part, the clock read only where the part changes", async () => {
  const registry = new Registry();
  const clock = steppingClock();
  const timing = new ScrapeTiming(clock.read);
  for (const name of ['process_a', 'process_b', 'conntrack_c', 'conntrack_d', 'nodejs_e']) {
    new Gauge({ name, help: name, registers: [registry] }).set(1);
  }
  timing.instrument(registry);
  const text = await registry.metrics();
  // The text is prom-client's, unchanged.
  assert.deepEqual(
    [...parseMetrics(text).keys()],
    ['process_a', 'process_b', 'conntrack_c', 'conntrack_d', 'nodejs_e'],
  );
  // Reads at process_a, conntrack_c, nodejs_e and the end of the pass.
  assert.equal(clock.reads(), 4);
  assert.equal(timing.seconds.process, 1);
  assert.equal(timing.seconds.families, 1);
  assert.equal(timing.seconds.nodejs, 1);
  await registry.metrics();
  assert.equal(clock.reads(), 8);
  assert.equal(timing.seconds.process, 2);
});

test('the family of each prefix', () => {
  assert.equal(partOfFamily('nodejs_heap_size_used_bytes'), 'nodejs');
  assert.equal(partOfFamily('process_open_fds'), 'process');
  assert.equal(partOfFamily('conntrack_exporter_events_total'), 'families');
});

test('served as one counter with every part', async () => {
  const registry = new Registry();
  const timing = new ScrapeTiming(steppingClock().read);
  timing.time('table', () => undefined);
  registerScrapeTiming(registry, timing);
  const series = parseMetrics(await registry.metrics());
  assert.deepEqual(
    [...series.keys()],
    SCRAPE_PARTS.map((part) => `conntrack_exporter_scrape_part_seconds_total{part="${part}"}`),
  );
  assert.equal(series.get('conntrack_exporter_scrape_part_seconds_total{part="table"}'), 1);
});
