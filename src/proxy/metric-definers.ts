import { scrapeCounter, scrapeGauge } from '../collectors/scrape-time';
import { type Registry } from './prom-client';

export interface MetricDefiners {
  /** A gauge labelled {id} whose value is read at scrape time. */
  gauge(name: string, help: string, read: () => number): void;
  /** A counter labelled {id} whose value is read at scrape time. */
  counter(name: string, help: string, read: () => number): void;
}

/** Metrics computed at scrape time from the proxy's plain counts. */
export function metricDefiners(registry: Registry, id: string): MetricDefiners {
  const labels = { id };
  const labelNames = ['id'];
  return {
    gauge(name, help, read) {
      scrapeGauge(registry, { name, help, labelNames }, () => [[labels, read()]]);
    },
    counter(name, help, read) {
      scrapeCounter(registry, { name, help, labelNames }, () => [[labels, read()]]);
    },
  };
}
