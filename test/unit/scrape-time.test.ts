import assert from 'node:assert/strict';
import test from 'node:test';

import { Registry } from 'prom-client';

import { scrapeCounter, scrapeGauge } from '../../src/collectors/scrape-time';

function samples(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(name));
}

test('a counter is read at each scrape, with its labels', async () => {
  const registry = new Registry();
  let count = 3;
  scrapeCounter(registry, { name: 'things_total', help: 'h', labelNames: ['kind'] }, async () => [
    [{ kind: 'a' }, count],
    [{ kind: 'b' }, 1],
  ]);
  assert.deepEqual(samples(await registry.metrics(), 'things_total'), [
    'things_total{kind="a"} 3',
    'things_total{kind="b"} 1',
  ]);
  count = 5;
  assert.deepEqual(samples(await registry.metrics(), 'things_total'), [
    'things_total{kind="a"} 5',
    'things_total{kind="b"} 1',
  ]);
});

test('a gauge keeps its value when the reading is undefined, and with reset drops what is not read', async () => {
  const registry = new Registry();
  let plain: number | undefined = 7;
  let labelled: [Record<string, string>, number][] = [
    [{ port: '80' }, 1],
    [{ port: '443' }, 2],
  ];
  scrapeGauge(registry, { name: 'plain', help: 'h' }, () => plain);
  scrapeGauge(registry, { name: 'labelled', help: 'h', labelNames: ['port'] }, () => labelled, {
    reset: true,
  });
  let text = await registry.metrics();
  assert.deepEqual(samples(text, 'plain'), ['plain 7']);
  assert.deepEqual(samples(text, 'labelled'), ['labelled{port="80"} 1', 'labelled{port="443"} 2']);
  plain = undefined;
  labelled = [[{ port: '443' }, 3]];
  text = await registry.metrics();
  assert.deepEqual(samples(text, 'plain'), ['plain 7']);
  assert.deepEqual(samples(text, 'labelled'), ['labelled{port="443"} 3']);
});

test('readings may come at once or later, counters and gauges alike; a failed one fails the scrape', async () => {
  const registry = new Registry();
  let count = 2;
  scrapeCounter(registry, { name: 'now_total', help: 'h' }, () => count);
  scrapeGauge(registry, { name: 'later', help: 'h' }, async () => count * 10);
  let text = await registry.metrics();
  assert.deepEqual(samples(text, 'now_total'), ['now_total 2']);
  assert.deepEqual(samples(text, 'later'), ['later 20']);
  count = 3;
  text = await registry.metrics();
  assert.deepEqual(samples(text, 'now_total'), ['now_total 3']);
  assert.deepEqual(samples(text, 'later'), ['later 30']);
  scrapeGauge(registry, { name: 'broken', help: 'h' }, () => Promise.reject(new Error('no /proc')));
  await assert.rejects(registry.metrics(), /no \/proc/);
});
