import assert from 'node:assert/strict';
import test from 'node:test';
import { Registry } from 'prom-client';
import yargs from 'yargs';

import { COLLECTORS, CollectorContext, registerCollectors } from '../../src/collectors';
import { Exposition } from '../../src/collectors/exposition';
import {
  collectorOptions,
  OPT_IN_COLLECTORS,
  OptInCollector,
  optInCollectors,
} from '../../src/options/collectors';

function parsed(args: string[]): ReadonlySet<OptInCollector> {
  return optInCollectors(
    collectorOptions(yargs(args)).parserConfiguration({ 'dot-notation': false }).parseSync(),
  );
}

test('nodejs_* is off unless --collector.nodejs is given', () => {
  assert.deepEqual([...parsed([])], []);
  assert.deepEqual([...parsed(['--collector.nodejs'])], ['nodejs']);
  assert.deepEqual([...parsed(['--collector.nodejs=false'])], []);
});

test('every opt-in collector has its flag, off by default', () => {
  assert.deepEqual([...parsed([])], []);
  const all = OPT_IN_COLLECTORS.map((name) => `--collector.${name}`);
  assert.deepEqual([...parsed(all)].sort(), [...OPT_IN_COLLECTORS].sort());
});

function context(optIn: ReadonlySet<OptInCollector>, longtermOnly = false): CollectorContext {
  const registry = new Registry();
  return {
    registry,
    exposition: new Exposition(registry),
    source: { get: () => Promise.resolve({ durationSeconds: 0 }) },
    mode: 'events',
    logEvents: false,
    metricLayout: 'native',
    resolving: false,
    tableReadable: false,
    build: { version: 'test', libnetfilterConntrack: 'test' },
    longtermOnly,
    optIn,
    traffic: false,
    log: { info() {}, warn() {}, error() {}, debug() {} },
  };
}

test('the collector table registers nodejs_* only when switched on, and never for the long-term drop-in', () => {
  const nodejs = COLLECTORS.find((collector) => collector.name === 'nodejs');
  assert.ok(nodejs);
  assert.equal(nodejs.enabled(context(new Set())), false);
  assert.equal(nodejs.enabled(context(new Set(['nodejs']))), true);
  assert.equal(nodejs.enabled(context(new Set(['nodejs']), true)), false);

  const names = (optIn: ReadonlySet<OptInCollector>) => {
    const on = context(optIn);
    registerCollectors(on);
    return on.registry
      .getMetricsAsArray()
      .map((metric) => (metric as unknown as { name: string }).name);
  };
  assert.deepEqual(
    names(new Set()).filter((name) => name.startsWith('nodejs_')),
    [],
  );
  assert.ok(names(new Set(['nodejs'])).includes('nodejs_heap_size_used_bytes'));
});
