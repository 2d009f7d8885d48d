import { getHeapStatistics } from 'node:v8';
import { Registry } from 'prom-client';
import { connectionGauges } from '../src/collectors/connections';
import { registerEventMetrics } from '../src/collectors/events';
import { registerHostMetrics } from '../src/collectors/hosts';
import { Exposition } from '../src/collectors/exposition';
import { lifecycleCounters } from '../src/collectors/lifecycle';
import { registerSelfMetrics } from '../src/collectors/self';
import { registerProcessMetrics } from '../src/collectors/process';
import { ScrapeSource } from '../src/collectors/scrape';
import { HostGroup } from '../src/model/group';
import { toSeries } from '../src/model/series';
import { HostFilter } from '../src/model/host-filter';
import { LifecycleSeries } from '../src/model/lifecycle-counts';
import { LiveTable } from '../src/model/live-table';

const groups = new Map<string, HostGroup>();
for (let h = 0; h < 1000; h++) {
  const host = h % 4 === 3 ? `2001:db8::${(h + 1).toString(16)}` : `198.18.${(h + 1) >> 8}.${(h + 1) & 255}`;
  groups.set(`inbound|${host}|443`, { host, port: 443, direction: 'inbound', counts: { opening: 1, open: 70, closing: 20, closed: 3 } });
}
const lifecycle: LifecycleSeries[] = [...groups.values()].map(({ host, port, direction }, i) => ({ host, port, direction, opened: i, closed: 0 }));
const copy = () => new Map([...groups].map(([k, g]) => [k, { ...g, counts: { ...g.counts } }]));
const source = new ScrapeSource({ read: () => Promise.resolve({ groups: copy(), table: { entries: 1, limit: 2 }, lifecycle: lifecycle.map((l) => ({ ...l })), durationSeconds: 0.001 }) }, { maxHosts: 1000, maxPortsPerHost: 10 }, HostFilter.parse([]));
const registry = new Registry();
const exposition = new Exposition(registry);
exposition.add(connectionGauges(source, false));
registerHostMetrics(registry, source, false);
registerSelfMetrics(registry, source, { version: 'b', libnetfilterConntrack: 'x' }, true);
registerEventMetrics(registry, source, 'events');
exposition.add(lifecycleCounters(source));
if (process.env.PROC !== '0') registerProcessMetrics(registry);

const used = () => getHeapStatistics().used_heap_size;
async function main() {
  for (let i = 0; i < 50; i++) exposition.recycle(await exposition.metrics());
  const r: Record<string, number[]> = {};
  const add = (k: string, v: number) => (r[k] ??= []).push(v);
  for (let i = 0; i < 30; i++) {
    let t = used(); const c = copy(); add('snapshot copy', used() - t);
    t = used(); toSeries([...c.values()], { maxHosts: 1000, maxPortsPerHost: 10 }); add('toSeries', used() - t);
    t = used(); await registry.metrics(); add('registry.metrics', used() - t);
    t = used(); const b = await exposition.metrics(); add('whole exposition', used() - t); exposition.recycle(b);
  }
  for (const [k, v] of Object.entries(r)) { v.sort((a, b) => a - b); console.log(k.padEnd(20), (v[v.length >> 1]! / 1024).toFixed(0), 'KiB'); }
}
void main();
