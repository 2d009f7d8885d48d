import { Gauge, Registry } from 'prom-client';

import { Series } from '../model/series';
import { ConnectionPhase, PHASES } from '../model/tcp-state';
import { SeriesSource } from './series-source';

const HELP: Record<ConnectionPhase, string> = {
  opening:
    'TCP connections being opened (SYN_SENT, SYN_SENT2, SYN_RECV), per remote host, service port and direction.',
  open: 'TCP connections established (ESTABLISHED), per remote host, service port and direction.',
  closing:
    'TCP connections being closed (FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT), per remote host, service port and direction.',
  closed:
    'TCP connections recently closed or reset (CLOSE), per remote host, service port and direction.',
};

/**
 * Per-phase gauges: conntrack_<phase>_connections{host,port,direction}, or
 * with `legacy`, the original conntrack_exporter's names
 * conntrack_<phase>_connections_total{host} summed per remote host.
 * Values come from one snapshot per scrape, named and bounded by the
 * SeriesSource; every series present in it gets all four phases (zeros
 * included), and series gone from it disappear.
 */
export function registerConnectionGauges(
  registry: Registry,
  source: SeriesSource,
  legacy: boolean,
): void {
  for (const phase of PHASES) {
    new Gauge({
      name: legacy ? `conntrack_${phase}_connections_total` : `conntrack_${phase}_connections`,
      help: HELP[phase],
      labelNames: legacy ? ['host'] : ['host', 'port', 'direction'],
      registers: [registry],
      async collect() {
        const { series } = await source.get();
        // No await from here on: the family is replaced in one step.
        this.reset();
        if (series === undefined) return;
        if (legacy) {
          for (const [host, count] of sumPerHost(series, phase)) {
            this.set({ host }, count);
          }
        } else {
          for (const group of series) {
            this.set(
              { host: group.host, port: String(group.port), direction: group.direction },
              group.counts[phase],
            );
          }
        }
      },
    });
  }
}

function sumPerHost(groups: Iterable<Series>, phase: ConnectionPhase): Map<string, number> {
  const sums = new Map<string, number>();
  for (const group of groups) {
    sums.set(group.host, (sums.get(group.host) ?? 0) + group.counts[phase]);
  }
  return sums;
}
