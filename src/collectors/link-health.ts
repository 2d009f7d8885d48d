import { bucketBounds, bucketKinds } from '../model/histogram';
import { CONNECT_BUCKETS, FAILURE_REASONS, LIFETIME_BUCKETS } from '../model/link-health';
import { CounterSeries } from '../model/per-host-counters';
import { SeriesLabels } from '../model/series-mapping';
import { ScrapeReader } from './scrape';
import {
  escapeLabelValue,
  expectedBytes,
  familyHeader,
  LabelCache,
  TextCollector,
  TextWriter,
} from './text-format';

const FAILURES = 'conntrack_connection_failures_total';
const LIFETIME = 'conntrack_connection_lifetime_seconds';
const CONNECT = 'conntrack_connect_duration_seconds';
const LIFETIME_BY_PORT = 'conntrack_connection_lifetime_by_port_seconds';

const FAILURES_HELP =
  'TCP connections that failed, per remote host, service port, direction and reason: refused ' +
  '(ended in a reset before it was established: nothing listens), timeout (ended while still ' +
  'opening: no answer to the SYN, or no final ACK), reset (established, then ended by a reset ' +
  'instead of a close).';

const CONNECT_HELP =
  "Time from a TCP connection's first SYN (its NEW event) to ESTABLISHED, per service port and " +
  'direction, from the times the events were read (a batch shares one time: about 1 ms ' +
  'resolution); only connections seen opening.';

function lifetimeStart(kernelTimestamps: boolean): string {
  return kernelTimestamps
    ? "from its start (the kernel's timestamp, nf_conntrack_timestamp=1, for connections found " +
        'by a read of the table; the arrival of its NEW event for the others)'
    : 'from the arrival of its NEW event (nf_conntrack_timestamp=0: no kernel timestamps)';
}

function lifetimeHelp(kernelTimestamps: boolean, labels: string): string {
  return (
    `How long established TCP connections lived, per ${labels}: ${lifetimeStart(kernelTimestamps)} ` +
    'to the arrival of the event that ended it (TIME_WAIT or CLOSE, or its DESTROY).'
  );
}

/** The per-host lifetimes' sum and count, and the per-port histograms' rows, of one scrape. */
interface Rows {
  failures: readonly CounterSeries<(typeof FAILURE_REASONS)[number]>[];
  lifetimes: readonly CounterSeries<'sum' | 'count'>[];
  connectTimes: readonly CounterSeries<string>[];
  lifetimesByPort: readonly CounterSeries<string>[];
}

/**
 * Link health (--collector.link-health, events mode): failures and
 * lifetimes per remote host, port and direction, folded like the other
 * per-host counters; connect times and lifetimes as histograms per port and
 * direction (see LinkHealth).
 */
export function linkHealthCollector(
  source: ScrapeReader<'counted'>,
  kernelTimestamps: boolean,
): TextCollector {
  const failuresHeader = familyHeader(FAILURES, FAILURES_HELP, 'counter');
  const lifetimeHeader = familyHeader(
    LIFETIME,
    lifetimeHelp(kernelTimestamps, 'remote host, service port and direction'),
    'summary',
  );
  const connectHeader = familyHeader(CONNECT, CONNECT_HELP, 'histogram');
  const byPortHeader = familyHeader(
    LIFETIME_BY_PORT,
    lifetimeHelp(kernelTimestamps, 'service port and direction'),
    'histogram',
  );
  const names = {
    failures: Buffer.from(FAILURES),
    lifetimeSum: Buffer.from(`${LIFETIME}_sum`),
    lifetimeCount: Buffer.from(`${LIFETIME}_count`),
  };
  const labels = new LabelCache();
  const withReason = FAILURE_REASONS.map((reason) => new ExtraLabel('reason', reason));
  const connect = new HistogramWriter(CONNECT, CONNECT_BUCKETS);
  const byPort = new HistogramWriter(LIFETIME_BY_PORT, LIFETIME_BUCKETS);
  return {
    async collect() {
      const counted = (await source.get()).counted;
      const rows: Rows = {
        failures: counted?.failures ?? [],
        lifetimes: counted?.lifetimes ?? [],
        connectTimes: counted?.connectTimes ?? [],
        lifetimesByPort: counted?.lifetimesByPort ?? [],
      };
      labels.startScrape();
      const failureLabels = rows.failures.map((row) => labels.get(row));
      const lifetimeLabels = rows.lifetimes.map((row) => labels.get(row));
      const samples =
        rows.failures.length * FAILURE_REASONS.length +
        rows.lifetimes.length * 2 +
        (rows.connectTimes.length + rows.lifetimesByPort.length) * (CONNECT_BUCKETS.length + 3);
      return {
        expectedBytes: expectedBytes(samples),
        write(out) {
          out.text(failuresHeader);
          rows.failures.forEach((row, i) => {
            FAILURE_REASONS.forEach((reason, r) => {
              out.sample(names.failures, withReason[r]!.of(failureLabels[i]!), row.values[reason]);
            });
          });
          out.text(`\n\n${lifetimeHeader}`);
          rows.lifetimes.forEach((row, i) => {
            out.sample(names.lifetimeSum, lifetimeLabels[i]!, row.values.sum);
            out.sample(names.lifetimeCount, lifetimeLabels[i]!, row.values.count);
          });
          out.text(`\n\n${connectHeader}`);
          connect.write(out, rows.connectTimes);
          out.text(`\n\n${byPortHeader}`);
          byPort.write(out, rows.lifetimesByPort);
        },
      };
    },
  };
}

/** A label added to cached label sets, each extended once (per label set object). */
class ExtraLabel {
  private readonly extended = new WeakMap<Buffer, Buffer>();
  private readonly suffix: Buffer;

  constructor(name: string, value: string) {
    this.suffix = Buffer.from(`,${name}="${escapeLabelValue(value)}"}`);
  }

  of(labels: Buffer): Buffer {
    let bytes = this.extended.get(labels);
    if (bytes === undefined) {
      bytes = Buffer.concat([labels.subarray(0, labels.length - 1), this.suffix]);
      this.extended.set(labels, bytes);
    }
    return bytes;
  }
}

/** Writes one histogram family's samples: cumulative buckets, sum and count per series. */
class HistogramWriter {
  private readonly bucketName: Buffer;
  private readonly sumName: Buffer;
  private readonly countName: Buffer;
  private readonly kinds: readonly string[];
  private readonly bounds: readonly string[];
  // Few: at most 3 × (K + 1) series, with a label set per bucket.
  private readonly labelSets = new Map<string, Buffer>();

  constructor(name: string, buckets: readonly number[]) {
    this.bucketName = Buffer.from(`${name}_bucket`);
    this.sumName = Buffer.from(`${name}_sum`);
    this.countName = Buffer.from(`${name}_count`);
    this.kinds = bucketKinds(buckets);
    this.bounds = bucketBounds(buckets);
  }

  write(out: TextWriter, rows: readonly CounterSeries<string>[]): void {
    if (this.labelSets.size > 4096) this.labelSets.clear();
    for (const row of rows) {
      let cumulative = 0;
      for (let i = 0; i < this.kinds.length; i++) {
        cumulative += row.values[this.kinds[i]!] ?? 0;
        out.sample(this.bucketName, this.labels(row, this.bounds[i]), cumulative);
      }
      out.sample(this.sumName, this.labels(row), row.values.sum ?? 0);
      out.sample(this.countName, this.labels(row), row.values.count ?? 0);
    }
  }

  private labels(row: SeriesLabels, le?: string): Buffer {
    const key = `${row.port}|${row.direction}|${le ?? ''}`;
    let bytes = this.labelSets.get(key);
    if (bytes === undefined) {
      const port = escapeLabelValue(String(row.port));
      const bucket = le === undefined ? '' : `,le="${le}"`;
      bytes = Buffer.from(`{port="${port}",direction="${row.direction}"${bucket}}`);
      this.labelSets.set(key, bytes);
    }
    return bytes;
  }
}
