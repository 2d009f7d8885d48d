import { Series } from '../model/series';
import { ConnectionPhase, PHASES } from '../model/tcp-state';
import { addCounts, copyCounts } from '../model/group';
import { MetricLayout } from '../options/metric-layout';
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

// The C++ original's help texts, which its users' tooling may show.
const ORIGINAL_HELP: Record<ConnectionPhase, string> = {
  opening: 'How many connections to the remote host are currently opening?',
  open: 'How many open connections are there to the remote host?',
  closing: 'How many connections to the remote host are currently closing?',
  closed: 'How many connections to the remote host have recently closed?',
};

/** One label set and its count per phase. */
interface Row {
  /** The label set as written, braces included, in UTF-8. */
  labels: Buffer;
  counts: Record<ConnectionPhase, number>;
}

/**
 * Per-phase gauges, in one of three layouts (see MetricLayout):
 * - native: conntrack_<phase>_connections{host,port,direction}; every
 *   series present in the snapshot gets all four phases, zeros included;
 * - v0.3: conntrack_<phase>_connections{host="<host>:<port>"}, the
 *   directions of a (host, port) summed, and only non-zero samples, as the
 *   C++ original v0.3.1 wrote them;
 * - v0.1: conntrack_<phase>_connections_total{host}, summed per host, zeros
 *   included.
 * Values come from one snapshot per scrape, named and bounded by the
 * ScrapeSource; series gone from it disappear.
 *
 * Written as text, not with prom-client gauges: these are the families that
 * grow with the hosts (see Exposition). In the native layout each label set
 * is encoded once, kept for the next scrapes, and used by all four phases.
 */
export function connectionGauges(
  source: ScrapeReader<'series'>,
  layout: MetricLayout,
): TextCollector {
  const heads = familyHeads(
    PHASES,
    (phase) => ({
      name:
        layout === 'v0.1'
          ? `conntrack_${phase}_connections_total`
          : `conntrack_${phase}_connections`,
      help: layout === 'v0.3' ? ORIGINAL_HELP[phase] : HELP[phase],
    }),
    'gauge',
  );
  const labels = new LabelCache();
  // A host with no connection in a phase is no label set known in advance:
  // the original left it out, and so does its layout.
  const nonZeroOnly = layout === 'v0.3';
  return {
    async collect() {
      const { series } = await source.get();
      const rows = series === undefined ? [] : rowsOf(series, layout, labels);
      return {
        expectedBytes: expectedBytes(rows.length * PHASES.length),
        write(out) {
          for (const { key: phase, name, header } of heads) {
            out.text(header);
            for (const row of rows) {
              const value = row.counts[phase];
              if (!nonZeroOnly || value !== 0) out.sample(name, row.labels, value);
            }
          }
        },
      };
    },
  };
}

function rowsOf(series: readonly Series[], layout: MetricLayout, labels: LabelCache): Row[] {
  switch (layout) {
    case 'native':
      labels.startScrape();
      return series.map((one) => ({ labels: labels.get(one), counts: one.counts }));
    case 'v0.3':
      return summed(series, ({ host, port }) => hostAndPort(host, port));
    case 'v0.1':
      return summed(series, ({ host }) => host);
  }
}

/**
 * The original's host label: "address:port", IPv6 in brackets as in a URL
 * ("[2001:db8::7]:443"). The host and the port may be "other" (folded).
 */
function hostAndPort(host: string, port: Series['port']): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Sums the series per host label, in the order the labels first appear. */
function summed(series: readonly Series[], hostLabel: (one: Series) => string): Row[] {
  const sums = new Map<string, Record<ConnectionPhase, number>>();
  for (const one of series) {
    const host = hostLabel(one);
    const sum = sums.get(host);
    if (sum === undefined) sums.set(host, copyCounts(one.counts));
    else addCounts(sum, one.counts);
  }
  return [...sums].map(([host, counts]) => ({
    labels: Buffer.from(`{host="${escapeLabelValue(host)}"}`),
    counts,
  }));
}
