import { readdirSync, readFileSync } from 'node:fs';
import { scrapeCounter, scrapeGauge, type Reading } from './scrape-time';
import type * as PromClient from 'prom-client';

/** Go's procfs reads "unlimited" as the largest uint64, and client_golang serves that. */
const UNLIMITED = 2 ** 64 - 1;

function procFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    // Not Linux, or /proc hidden: leave the gauge out rather than lie.
    return undefined;
  }
}

/** A `Name:  1234 kB` line of /proc/self/status, in bytes. */
function statusBytes(field: string): Reading {
  const status = procFile('/proc/self/status');
  const match = status && new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  return match ? Number(match[1]) * 1024 : [];
}

/** The soft limit of a /proc/self/limits row. */
function softLimit(row: string): Reading {
  const limits = procFile('/proc/self/limits');
  const line = limits?.split('\n').find((text) => text.startsWith(row));
  const soft = line?.slice(row.length).trim().split(/\s+/)[0];
  if (soft === undefined) return [];
  return soft === 'unlimited' ? UNLIMITED : Number(soft);
}

/**
 * The standard process_* metrics, with the names and meanings of
 * Prometheus' client libraries (prom-client's set, plus client_golang's
 * process_virtual_memory_max_bytes), read at scrape time. Every command's
 * metrics endpoint serves them. Not prom-client's own: its modules come
 * with the package entry the proxy does not load (src/proxy/prom-client.ts),
 * and the nodejs_* ones are chosen separately (src/collectors/nodejs.ts).
 */
export function registerProcessMetrics(registry: PromClient.Registry): void {
  const startTime = Date.now() / 1000 - process.uptime();
  const cpu: readonly [string, string, (usage: NodeJS.CpuUsage) => number][] = [
    ['process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.', (u) => u.user],
    [
      'process_cpu_system_seconds_total',
      'Total system CPU time spent in seconds.',
      (u) => u.system,
    ],
    [
      'process_cpu_seconds_total',
      'Total user and system CPU time spent in seconds.',
      (u) => u.user + u.system,
    ],
  ];
  for (const [name, help, microseconds] of cpu) {
    scrapeCounter(registry, { name, help }, () => microseconds(process.cpuUsage()) / 1e6);
  }
  scrapeGauge(
    registry,
    {
      name: 'process_start_time_seconds',
      help: 'Start time of the process since unix epoch in seconds.',
    },
    () => startTime,
  );
  const memory: readonly [string, string, () => Reading][] = [
    [
      'process_resident_memory_bytes',
      'Resident memory size in bytes.',
      () => process.memoryUsage.rss(),
    ],
    ['process_virtual_memory_bytes', 'Virtual memory size in bytes.', () => statusBytes('VmSize')],
    ['process_heap_bytes', 'Process heap size in bytes.', () => statusBytes('VmData')],
    [
      'process_virtual_memory_max_bytes',
      'Maximum amount of virtual memory available in bytes.',
      () => softLimit('Max address space'),
    ],
    [
      'process_open_fds',
      'Number of open file descriptors.',
      () => {
        try {
          return readdirSync('/proc/self/fd').length;
        } catch {
          return [];
        }
      },
    ],
    [
      'process_max_fds',
      'Maximum number of open file descriptors.',
      () => softLimit('Max open files'),
    ],
  ];
  for (const [name, help, read] of memory) {
    scrapeGauge(registry, { name, help }, read, { reset: true });
  }
}
