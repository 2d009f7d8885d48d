import { Counter, Registry } from 'prom-client';

import { LifecycleSeries } from '../model/lifecycle-counts';
import { SnapshotSource } from './snapshot';

const HELP = {
  opened:
    'TCP connections that appeared in the conntrack table (NEW events, and entries first found by a re-read), per remote host, service port and direction.',
  closed:
    'TCP connections that left the conntrack table (DESTROY events, and entries a re-read found gone), per remote host, service port and direction.',
} as const;

/**
 * conntrack_connections_{opened,closed}_total{host,port,direction}: every
 * connection that appeared and ended, seen through events, so a connection
 * that lived between two scrapes still counts. Events mode only.
 */
export function registerLifecycleCounters(
  registry: Registry,
  source: SnapshotSource,
  lifecycle: () => LifecycleSeries[],
): void {
  for (const kind of ['opened', 'closed'] as const) {
    new Counter({
      name: `conntrack_connections_${kind}_total`,
      help: HELP[kind],
      labelNames: ['host', 'port', 'direction'],
      registers: [registry],
      async collect() {
        // After this scrape's snapshot, which may re-read the table first.
        // Both families resume in the same microtask run, so they agree.
        await source.get();
        this.reset();
        for (const series of lifecycle()) {
          const { host, port, direction } = series;
          this.inc({ host, port: String(port), direction }, series[kind]);
        }
      },
    });
  }
}
