import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import test from 'node:test';

import { Counter, Registry } from 'prom-client';
import yargs from 'yargs';

import { Exposition } from '../../src/collectors/exposition';
import { lifecycleCounters } from '../../src/collectors/lifecycle';
import { trafficCounters } from '../../src/collectors/traffic';
import { CounterSeries } from '../../src/model/per-host-counters';
import { TRAFFIC_KINDS, TrafficKind } from '../../src/model/traffic';
import { collectorOptions, optInCollectors } from '../../src/options/collectors';
import { trafficConfig, trafficOptions } from '../../src/options/traffic';

const CLI = path.join(__dirname, '..', '..', 'dist', 'cli.js');

const SERIES: CounterSeries<TrafficKind>[] = [
  {
    host: '198.51.100.5',
    port: 5432,
    direction: 'outbound',
    values: {
      sent_bytes: 10_485_760,
      received_bytes: 1_048_576,
      sent_packets: 300,
      received_packets: 90,
    },
  },
  {
    host: 'other',
    port: 'other',
    direction: 'inbound',
    values: { sent_bytes: 5, received_bytes: 6, sent_packets: 1, received_packets: 2 },
  },
];

async function render(accounting: boolean | undefined, traffic = true): Promise<string> {
  const exposition = new Exposition(new Registry());
  const source = { get: async () => ({ counted: { lifecycle: [], traffic: SERIES } }) };
  exposition.add(lifecycleCounters(source));
  if (traffic) exposition.add(trafficCounters(source, () => accounting));
  return (await exposition.metrics()).toString();
}

test('with accounting on: four counter families, as prom-client would write them', async () => {
  const text = await render(true);
  const reference = new Registry();
  for (const kind of TRAFFIC_KINDS) {
    const name = `conntrack_${kind}_total`;
    const help = new RegExp(`^# HELP ${name} (.*)$`, 'm').exec(text)?.[1];
    assert.ok(help, `${name} has a HELP line`);
    const counter = new Counter({
      name,
      help,
      labelNames: ['host', 'port', 'direction'],
      registers: [reference],
    });
    for (const { host, port, direction, values } of SERIES) {
      counter.inc({ host, port: String(port), direction }, values[kind]);
    }
  }
  const lifecycle = text.slice(0, text.indexOf('# HELP conntrack_sent_bytes_total'));
  assert.equal(text, `${lifecycle}${await reference.metrics()}`);
});

test('with accounting off or unknown: the families are absent, not empty', async () => {
  const without = await render(true, false);
  assert.equal(await render(false), without);
  assert.equal(await render(undefined), without);
  assert.doesNotMatch(without, /conntrack_(sent|received)_/);
});

function parse(args: string[]) {
  const parsed = collectorOptions(trafficOptions(yargs(args)))
    .parserConfiguration({ 'dot-notation': false })
    .strict()
    .fail((message, error) => {
      throw error ?? new Error(message);
    })
    .parseSync();
  return trafficConfig(parsed, optInCollectors(parsed));
}

test('--collector.traffic is off by default; --traffic-interval reads live connections every 2 minutes by default', () => {
  assert.equal(parse([]), undefined);
  assert.deepEqual(parse(['--collector.traffic']), { readIntervalMs: 120_000 });
  assert.deepEqual(parse(['--collector.traffic', '--traffic-interval', '5m']), {
    readIntervalMs: 300_000,
  });
  assert.deepEqual(parse(['--collector.traffic', '--traffic-interval', '0']), {
    readIntervalMs: 0,
  });
});

test('the CLI refuses a bad --traffic-interval in one line with exit code 2', () => {
  const result = spawnSync(
    process.execPath,
    [CLI, '--collector.traffic', '--traffic-interval', 'often'],
    {
      encoding: 'utf8',
      timeout: 20_000,
    },
  );
  assert.equal(result.status, 2, result.stderr);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0] ?? '', /^.*--traffic-interval: 'often' is not an interval of at least 1s/);
});
