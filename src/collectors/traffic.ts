import { accountingOn } from '../conntrack/accounting';
import { TRAFFIC_KINDS, TrafficKind } from '../model/traffic';
import { ScrapeReader } from './scrape';
import { perHostCounterFamilies } from './per-host-counters';
import { TextCollector } from './text-format';

const HELP: Record<TrafficKind, string> = {
  sent_bytes:
    'Bytes (IP packets, headers included) of TCP connections sent to the remote host, from the kernel connection accounting, per remote host, service port and direction.',
  received_bytes:
    'Bytes (IP packets, headers included) of TCP connections received from the remote host, from the kernel connection accounting, per remote host, service port and direction.',
  sent_packets:
    'Packets of TCP connections sent to the remote host, from the kernel connection accounting, per remote host, service port and direction.',
  received_packets:
    'Packets of TCP connections received from the remote host, from the kernel connection accounting, per remote host, service port and direction.',
};

/**
 * conntrack_{sent,received}_{bytes,packets}_total{host,port,direction}:
 * the traffic of the connections, from the kernel's accounting (see
 * TrafficCounts), ranked and folded like the gauges (see PerHostCounters).
 * Absent while net.netfilter.nf_conntrack_acct is 0 in the watched
 * namespace, read at each scrape: the kernel counts nothing new then, and
 * zeros would say "no traffic".
 */
export function trafficCounters(
  source: ScrapeReader<'counted'>,
  accounting: () => boolean | undefined = accountingOn,
): TextCollector {
  return perHostCounterFamilies(source, {
    rows: 'traffic',
    kinds: TRAFFIC_KINDS,
    family: (kind) => ({ name: `conntrack_${kind}_total`, help: HELP[kind] }),
    present: () => accounting() === true,
  });
}
