/**
 * The families written as text (connection gauges, lifecycle counters) are
 * exactly what prom-client wrote for the same data before they were: the
 * reference below is the prom-client code they replaced. Arbitrary host
 * labels (DNS names can hold anything) exercise the escaping.
 */
import assert from 'node:assert/strict';
import test from 'node:test';

import fc from 'fast-check';
import { Counter, Gauge, PrometheusContentType, Registry } from 'prom-client';

import { connectionGauges } from '../../src/collectors/connections';
import { Exposition } from '../../src/collectors/exposition';
import { lifecycleCounters } from '../../src/collectors/lifecycle';
import { LabelCache } from '../../src/collectors/text-format';
import { SeriesView } from '../../src/collectors/scrape';
import { Direction } from '../../src/model/flow';
import { LifecycleKind } from '../../src/model/live-table';
import { CounterSeries } from '../../src/model/per-host-counters';
import { OTHER, Series } from '../../src/model/series';
import { PHASES } from '../../src/model/tcp-state';
import { METRIC_LAYOUTS, MetricLayout } from '../../src/options/metric-layout';

const HELP_OF = /^# HELP (\S+) (.*)$/gm;

/** The connection gauges as prom-client rendered them (the replaced collector). */
function referenceGauges(
  registry: Registry,
  view: SeriesView,
  layout: MetricLayout,
  help: Map<string, string>,
): void {
  for (const phase of PHASES) {
    const name =
      layout === 'v0.1' ? `conntrack_${phase}_connections_total` : `conntrack_${phase}_connections`;
    const gauge = new Gauge({
      name,
      help: help.get(name) ?? '',
      labelNames: layout === 'native' ? ['host', 'port', 'direction'] : ['host'],
      registers: [registry],
    });
    if (view.series === undefined) continue;
    if (layout === 'native') {
      for (const one of view.series) {
        gauge.set(
          { host: one.host, port: String(one.port), direction: one.direction },
          one.counts[phase],
        );
      }
      continue;
    }
    const sums = new Map<string, number>();
    for (const one of view.series) {
      const host =
        layout === 'v0.1'
          ? one.host
          : one.host.includes(':')
            ? `[${one.host}]:${one.port}`
            : `${one.host}:${one.port}`;
      sums.set(host, (sums.get(host) ?? 0) + one.counts[phase]);
    }
    for (const [host, count] of sums) {
      // v0.3 writes a host only in the phases where it has connections.
      if (layout !== 'v0.3' || count !== 0) gauge.set({ host }, count);
    }
  }
}

/** The lifecycle counters as prom-client rendered them (the replaced collector). */
function referenceCounters(
  registry: Registry,
  tallies: CounterSeries<LifecycleKind>[],
  help: Map<string, string>,
): void {
  for (const kind of ['opened', 'closed'] as const) {
    const name = `conntrack_connections_${kind}_total`;
    const counter = new Counter({
      name,
      help: help.get(name) ?? '',
      labelNames: ['host', 'port', 'direction'],
      registers: [registry],
    });
    for (const one of tallies) {
      counter.inc(
        { host: one.host, port: String(one.port), direction: one.direction },
        one.values[kind],
      );
    }
  }
}

/** HELP texts as the text collectors write them, so that the reference can use the same. */
function helpTexts(text: string): Map<string, string> {
  return new Map([...text.matchAll(HELP_OF)].map(([, name, help]) => [name!, help!]));
}

// Label values that need escaping, and ones that look like the format.
const labelText = fc.oneof(
  fc.string({
    unit: fc.constantFrom('a', '.', ':', '\\', '"', '\n', '{', '}', '=', ',', ' ', 'é'),
  }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.ipV4(),
  fc.ipV6(),
);
const direction = fc.constantFrom<Direction>('outbound', 'inbound', 'forwarded');
const port = fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.constant(OTHER));
const key = (one: { host: string; port: number | string; direction: string }) =>
  `${one.direction}|${one.host}|${one.port}`;
// Counts are whole numbers; other numbers check that values are spelled as prom-client spells them.
const gaugeValue = fc.oneof(fc.nat(), fc.maxSafeNat(), fc.double());
const counterValue = fc.oneof(
  fc.nat(),
  fc.maxSafeNat(),
  fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }),
);

const series = fc.uniqueArray(
  fc.record({
    // Few hosts, so that the v0.1 and v0.3 layouts sum several series per host.
    host: fc.oneof(labelText, fc.constantFrom('198.51.100.1', 'db.example', OTHER)),
    port,
    direction,
    counts: fc.record({
      opening: gaugeValue,
      open: gaugeValue,
      closing: gaugeValue,
      closed: gaugeValue,
    }),
  }),
  { selector: key, maxLength: 30 },
);
const view: fc.Arbitrary<SeriesView> = fc.oneof(
  series.map((list): SeriesView => ({ series: list as Series[], foldedHosts: 0 })),
  // A failed read: the families stay, without samples.
  fc.constant({}),
);

const layout = fc.constantFrom<MetricLayout>(...METRIC_LAYOUTS);

test('connection gauges: the same text as prom-client, in every layout, read failed or not', async () => {
  await fc.assert(
    fc.asyncProperty(view, layout, async (data, layout) => {
      const exposition = new Exposition(new Registry());
      exposition.add(connectionGauges({ get: async () => data }, layout));
      const text = (await exposition.metrics()).toString();
      const reference = new Registry();
      referenceGauges(reference, data, layout, helpTexts(text));
      assert.equal(text, await reference.metrics());
    }),
    { numRuns: 300 },
  );
});

test('the v0.3 layout: the original\'s names, host="address:port", directions summed, non-zero samples only', async () => {
  const counts = (open: number, closing = 0) => ({ opening: 0, open, closing, closed: 0 });
  const data: SeriesView = {
    series: [
      { host: '10.0.1.5', port: 3306, direction: 'outbound', counts: counts(49) },
      // A client of this host's port 3306 on the same host: the same label.
      { host: '10.0.1.5', port: 3306, direction: 'inbound', counts: counts(1, 2) },
      { host: '2001:db8::7', port: 443, direction: 'inbound', counts: counts(3) },
      { host: '10.0.1.5', port: OTHER, direction: 'outbound', counts: counts(4) },
      { host: OTHER, port: 80, direction: 'inbound', counts: counts(5) },
      { host: OTHER, port: OTHER, direction: 'inbound', counts: counts(0, 6) },
    ],
    foldedHosts: 3,
  };
  const exposition = new Exposition(new Registry());
  exposition.add(connectionGauges({ get: async () => data }, 'v0.3'));
  const samples = (await exposition.metrics())
    .toString()
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'));
  assert.deepEqual(samples, [
    'conntrack_open_connections{host="10.0.1.5:3306"} 50',
    'conntrack_open_connections{host="[2001:db8::7]:443"} 3',
    'conntrack_open_connections{host="10.0.1.5:other"} 4',
    'conntrack_open_connections{host="other:80"} 5',
    'conntrack_closing_connections{host="10.0.1.5:3306"} 2',
    'conntrack_closing_connections{host="other:other"} 6',
  ]);
  assert.match(
    (await exposition.metrics()).toString(),
    /^# HELP conntrack_open_connections How many open connections are there to the remote host\?$/m,
  );
});

test('connection gauges: one collector over changing scrapes writes what prom-client writes each time', async () => {
  // Label sets are kept between scrapes: series that come, go and come back.
  await fc.assert(
    fc.asyncProperty(fc.array(view, { minLength: 2, maxLength: 6 }), async (views) => {
      let current: SeriesView = {};
      const exposition = new Exposition(new Registry());
      exposition.add(connectionGauges({ get: async () => current }, 'native'));
      for (const data of views) {
        current = data;
        const text = (await exposition.metrics()).toString();
        const reference = new Registry();
        referenceGauges(reference, data, 'native', helpTexts(text));
        assert.equal(text, await reference.metrics());
      }
    }),
    { numRuns: 100 },
  );
});

test('label cache: the same bytes for the same labels, and label sets no longer asked for are dropped', () => {
  const cache = new LabelCache();
  const scrape = (first: number, count: number) => {
    cache.startScrape();
    for (let i = first; i < first + count; i++) {
      const bytes = cache.get({
        host: `198.51.100.${i % 250}`,
        port: i,
        direction: i % 2 === 0 ? 'inbound' : 'outbound',
      });
      assert.equal(
        bytes.toString(),
        `{host="198.51.100.${i % 250}",port="${i}",direction="${i % 2 === 0 ? 'inbound' : 'outbound'}"}`,
      );
    }
  };
  scrape(0, 1000);
  assert.equal(cache.size, 1000);
  const again = cache.get({ host: '198.51.100.1', port: 1, direction: 'outbound' });
  assert.equal(
    cache.get({ host: '198.51.100.1', port: 1, direction: 'outbound' }),
    again,
    'not encoded anew',
  );
  assert.equal(
    cache.get({ host: '198.51.100.1', port: OTHER, direction: 'outbound' }).toString(),
    '{host="198.51.100.1",port="other",direction="outbound"}',
  );
  // Ever new series (a server with ever new clients): the cache stays near
  // twice what one scrape uses instead of growing with every series seen.
  for (let round = 1; round <= 20; round++) scrape(round * 100_000, 100);
  assert.ok(cache.size <= 2 * 100 + 64 + 100, `${cache.size} label sets held`);
});

test('lifecycle counters: the same text as prom-client', async () => {
  const tallies = fc.uniqueArray(
    fc.record({
      host: labelText,
      port: fc.integer({ min: 0, max: 65535 }),
      direction,
      values: fc.record({ opened: counterValue, closed: counterValue }),
    }),
    { selector: key, maxLength: 30 },
  );
  await fc.assert(
    fc.asyncProperty(tallies, async (list) => {
      const exposition = new Exposition(new Registry());
      exposition.add(lifecycleCounters({ get: async () => ({ counted: { lifecycle: list } }) }));
      const text = (await exposition.metrics()).toString();
      const reference = new Registry();
      referenceCounters(reference, list, helpTexts(text));
      assert.equal(text, await reference.metrics());
    }),
    { numRuns: 300 },
  );
});

test('the exposition: registry families first, then the text families, as one prom-client registry would', async () => {
  await fc.assert(
    fc.asyncProperty(series, layout, async (list, layout) => {
      const data: SeriesView = { series: list as Series[], foldedHosts: 0 };
      const tallies = list.map(({ host, port, direction }, i) => ({
        host,
        // Tallies have numeric ports, and one each per label set: a port
        // above any real one for "other", or it could repeat another's.
        port: typeof port === 'number' ? port : 65536 + i,
        direction,
        values: { opened: i, closed: 0 },
      }));
      const small = (registry: Registry) => {
        new Gauge({
          name: 'small',
          help: 'a "small" \\ family\nof one',
          registers: [registry],
        }).set(1);
        new Counter({
          name: 'small_total',
          help: 'h',
          labelNames: ['l'],
          registers: [registry],
        }).inc({ l: 'x' });
      };
      const registry = new Registry();
      small(registry);
      const exposition = new Exposition(registry);
      exposition.add(connectionGauges({ get: async () => data }, layout));
      exposition.add(lifecycleCounters({ get: async () => ({ counted: { lifecycle: tallies } }) }));
      const text = (await exposition.metrics()).toString();
      const reference = new Registry();
      small(reference);
      referenceGauges(reference, data, layout, helpTexts(text));
      referenceCounters(reference, tallies, helpTexts(text));
      assert.equal(text, await reference.metrics());
    }),
    { numRuns: 100 },
  );
});

test('an exposition with nothing in it is what an empty registry gives', async () => {
  assert.equal(
    (await new Exposition(new Registry()).metrics()).toString(),
    await new Registry().metrics(),
  );
});

test('a registry switched to OpenMetrics is refused: the text families are Prometheus text only', async () => {
  const registry = new Registry();
  const exposition = new Exposition(registry);
  // Only a cast gets past the types, which keep an OpenMetrics registry out.
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as PrometheusContentType);
  await assert.rejects(exposition.metrics(), /unsupported content type/);
});
