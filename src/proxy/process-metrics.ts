import { readdirSync } from 'node:fs';
import { scrapeCounter, scrapeGauge } from '../collectors/scrape-time';
import { type Registry } from './prom-client';

/**
 * The standard process_* metrics, read at scrape time. Not prom-client's
 * collectDefaultMetrics: that adds an event-loop timer and GC observer to
 * the data path's process, and gauges named *_total that promtool rejects.
 */
export function registerProcessMetrics(registry: Registry): void {
  const startTime = Math.round(Date.now() / 1000 - process.uptime());
  scrapeCounter(
    registry,
    { name: 'process_cpu_seconds_total', help: 'Total user and system CPU time spent in seconds.' },
    () => {
      const { user, system } = process.cpuUsage();
      return (user + system) / 1e6;
    },
  );
  scrapeGauge(
    registry,
    { name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.' },
    () => process.memoryUsage.rss(),
  );
  scrapeGauge(
    registry,
    {
      name: 'process_start_time_seconds',
      help: 'Start time of the process since unix epoch in seconds.',
    },
    () => startTime,
  );
  scrapeGauge(
    registry,
    { name: 'process_open_fds', help: 'Number of open file descriptors.' },
    () => {
      try {
        return readdirSync('/proc/self/fd').length;
      } catch {
        // Not Linux, or /proc hidden: leave the gauge out rather than lie.
        return [];
      }
    },
    { reset: true },
  );
}
