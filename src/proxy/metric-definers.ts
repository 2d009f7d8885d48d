import { Counter, Gauge, type Registry } from './prom-client';

export interface MetricDefiners {
  /** A gauge labelled {id} whose value is read at scrape time. */
  gauge(name: string, help: string, read: () => number): void;
  /** A counter labelled {id} whose value is read at scrape time. */
  counter(name: string, help: string, read: () => number): void;
}

/** Metrics computed at scrape time from the proxy's plain counts. */
export function metricDefiners(registry: Registry, id: string): MetricDefiners {
  const labels = { id };
  const registers = [registry];
  return {
    gauge(name, help, read) {
      new Gauge({
        name,
        help,
        labelNames: ['id'],
        registers,
        collect() {
          this.set(labels, read());
        },
      });
    },
    counter(name, help, read) {
      new Counter({
        name,
        help,
        labelNames: ['id'],
        registers,
        collect() {
          // Counters cannot be set; reset and add gives the same exposition.
          this.reset();
          this.inc(labels, read());
        },
      });
    },
  };
}
