import { Series } from '../model/series';
import { ConnectionPhase, PHASES } from '../model/tcp-state';
import { addCounts, copyCounts } from '../model/group';
import { ScrapeReader } from './scrape';
import {
  expectedBytes,
  escapeLabelValue,
  familyHeads,
  LabelCache,
  TextCollector,
} from './text-format';

const HELP: Record<ConnectionPhase, string> = {
  opening:
    'TCP connections being opened (SYN_SENT, SYN_SENT2, SYN_RECV), per remote host, service port and direction.',
  open: 'TCP connections established (ESTABLISHED), per remote host, service port and direction.',
  closing:
    'TCP connections being closed (FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT), per remote host, service port and direction.',
  closed:
    'TCP connections recently closed or reset (CLOSE), per remote host, service port and direction.',
};

/** One label set and its count per phase. */
interface Row {
  /** The label set as written, braces included, in UTF-8. */
  labels: Buffer;
  counts: Record<ConnectionPhase, number>;
}

/**
 * Per-phase gauges: conntrack_<phase>_connections{host,port,direction}, or
 * with `legacy`, the original conntrack_exporter's names
 * conntrack_<phase>_connections_total{host} summed per remote host.
 * Values come from one snapshot per scrape, named and bounded by the
 * ScrapeSource; every series present in it gets all four phases (zeros
 * included), and series gone from it disappear.
 *
 * Written as text, not with prom-client gauges: these are the families that
 * grow with the hosts (see Exposition). Each label set is encoded once,
 * kept for the next scrapes, and used by all four phases.
 */
export function connectionGauges(source: ScrapeReader<'series'>, legacy: boolean): TextCollector {
  const heads = familyHeads(
    PHASES,
    (phase) => ({
      name: legacy ? `conntrack_${phase}_connections_total` : `conntrack_${phase}_connections`,
      help: HELP[phase],
    }),
    'gauge',
  );
  const labels = new LabelCache();
  return {
    async collect() {
      const { series } = await source.get();
      const rows = series === undefined ? [] : legacy ? perHost(series) : perSeries(series, labels);
      return {
        expectedBytes: expectedBytes(rows.length * PHASES.length),
        write(out) {
          for (const { key: phase, name, header } of heads) {
            out.text(header);
            for (const row of rows) out.sample(name, row.labels, row.counts[phase]);
          }
        },
      };
    },
  };
}

function perSeries(series: readonly Series[], labels: LabelCache): Row[] {
  labels.startScrape();
  return series.map((one) => ({ labels: labels.get(one), counts: one.counts }));
}

/** Sums per host label, in the order the hosts first appear. */
function perHost(series: readonly Series[]): Row[] {
  const sums = new Map<string, Record<ConnectionPhase, number>>();
  for (const { host, counts } of series) {
    const sum = sums.get(host);
    if (sum === undefined) sums.set(host, copyCounts(counts));
    else addCounts(sum, counts);
  }
  return [...sums].map(([host, counts]) => ({
    labels: Buffer.from(`{host="${escapeLabelValue(host)}"}`),
    counts,
  }));
}
