import { LIFECYCLE_KINDS, LifecycleKind } from '../model/live-table';
import { ScrapeReader } from './scrape';
import { perHostCounterFamilies } from './per-host-counters';
import { TextCollector } from './text-format';

const HELP: Record<LifecycleKind, string> = {
  opened:
    'TCP connections that appeared in the conntrack table (NEW events, and entries first found by a re-read), per remote host, service port and direction.',
  closed:
    'TCP connections that left the conntrack table (DESTROY events, and entries a re-read found gone), per remote host, service port and direction.',
};

/**
 * conntrack_connections_{opened,closed}_total{host,port,direction}: every
 * connection that appeared and ended, seen through events, so a connection
 * that lived between two scrapes still counts. Events mode only.
 *
 * Written as text, like the connection gauges, label sets kept between
 * scrapes: ranked and folded like the gauges (see PerHostCounters), so
 * these grow with the hosts too (see Exposition).
 */
export function lifecycleCounters(source: ScrapeReader<'counted'>): TextCollector {
  return perHostCounterFamilies(source, {
    rows: 'lifecycle',
    kinds: LIFECYCLE_KINDS,
    family: (kind) => ({ name: `conntrack_connections_${kind}_total`, help: HELP[kind] }),
  });
}
