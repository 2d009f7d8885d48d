import { readdirSync } from 'node:fs';
import { Counter, Gauge, type Registry } from './prom-client';

/**
 * The standard process_* metrics, read at scrape time. Not prom-client's
 * collectDefaultMetrics: that adds an event-loop timer and GC observer to
 * the data path's process, and gauges named *_total that promtool rejects.
 */
export function registerProcessMetrics(registry: Registry): void {
  const registers = [registry];
  const startTime = Math.round(Date.now() / 1000 - process.uptime());
  new Counter({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    registers,
    collect() {
      const { user, system } = process.cpuUsage();
      this.reset();
      this.inc((user + system) / 1e6);
    },
  });
  new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: 'process_start_time_seconds',
    help: 'Start time of the process since unix epoch in seconds.',
    registers,
    collect() {
      this.set(startTime);
    },
  });
  new Gauge({
    name: 'process_open_fds',
    help: 'Number of open file descriptors.',
    registers,
    collect() {
      try {
        this.set(readdirSync('/proc/self/fd').length);
      } catch {
        // Not Linux, or /proc hidden: leave the gauge out rather than lie.
        this.reset();
      }
    },
  });
}
