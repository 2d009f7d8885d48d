import { PrometheusContentType, Registry } from 'prom-client';

import { timed } from './scrape-timing';
import { TextCollector, TextPart, TextWriter } from './text-format';

const MIN_RECYCLED = 64 * 1024;

/**
 * Everything a scrape serves: the prom-client registry, which holds the
 * small families (self metrics, counters of the event stream, DNS), then
 * the text collectors, which render the families whose size follows the
 * remote hosts (one sample per host, port, direction and phase).
 *
 * Why two kinds: prom-client builds a label object, a hash string and an
 * intermediate record per sample, then formats each anew; for the
 * thousands of samples of 1,000 hosts that and the garbage it left made
 * most of a scrape, where writing the same text directly takes a small part
 * of it (events-mode scrape latencies are in BENCHMARKS.md). The
 * text collectors write exactly what prom-client would (test/unit/
 * text-collectors.test.ts compares them), so a reader cannot tell.
 *
 * Every part is asked for at once, as prom-client asks its collectors, so
 * all of them see the same shared snapshot of the table.
 */
export class Exposition {
  private readonly text: TextCollector[] = [];
  // A body no response reads any more (see recycle).
  private spare: Buffer | undefined;

  // The text collectors write the Prometheus text format only, not
  // OpenMetrics (no "# EOF", counters named differently): the type keeps an
  // OpenMetrics registry out, and metrics() refuses one switched at run time.
  constructor(readonly registry: Registry<PrometheusContentType>) {}

  get contentType(): PrometheusContentType {
    return Registry.PROMETHEUS_CONTENT_TYPE;
  }

  add(collector: TextCollector): void {
    this.text.push(collector);
  }

  /**
   * Takes back a body that metrics() returned, once nothing reads it: the
   * next scrape writes into the same memory. A fresh half-megabyte buffer
   * per scrape cost a third of writing the text in page faults (1,000
   * hosts; scrape latencies are in BENCHMARKS.md).
   */
  recycle(body: Buffer): void {
    // Buffers this large are never slices of Node's shared pool (which
    // serves allocations under 4 KiB): the memory is the body's alone.
    if (body.byteOffset !== 0 || body.buffer.byteLength < MIN_RECYCLED) return;
    this.spare = Buffer.from(body.buffer, 0, body.buffer.byteLength);
  }

  /** The whole exposition as UTF-8: families separated by a blank line, ending in a newline, as prom-client's. */
  async metrics(): Promise<Buffer> {
    if (this.registry.contentType !== Registry.PROMETHEUS_CONTENT_TYPE) {
      throw new Error(`unsupported content type ${this.registry.contentType}`);
    }
    const [registered, collected] = await Promise.all([
      this.registry.getMetricsAsArray().length > 0 ? this.registry.metrics() : Promise.resolve(''),
      Promise.all(this.text.map((collector) => collector.collect())),
    ]);
    const parts = collected.filter((part): part is TextPart => part !== undefined);
    if (registered === '' && parts.length === 0) return Buffer.from('\n');
    return timed('text', () => this.write(registered, parts));
  }

  private write(registered: string, parts: readonly TextPart[]): Buffer {
    const expected = parts.reduce((sum, part) => sum + part.expectedBytes + 2, registered.length);
    const spare = this.spare;
    this.spare = undefined;
    const out = new TextWriter(
      expected,
      spare !== undefined && spare.length >= expected ? spare : undefined,
    );
    // prom-client's text already ends in a newline: one more makes the blank line.
    out.text(registered);
    parts.forEach((part, i) => {
      if (i > 0 || registered !== '') out.text('\n');
      part.write(out);
      out.text('\n');
    });
    return out.done();
  }
}
