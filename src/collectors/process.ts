import { readdirSync, statSync } from 'node:fs';

import { ProcFile } from '../proc-file';
import { scrapeCounter, scrapeGauge, type Reading } from './scrape-time';
import type * as PromClient from 'prom-client';

/** Go's procfs reads "unlimited" as the largest uint64, and client_golang serves that. */
const UNLIMITED = 2 ** 64 - 1;

/** A `Name:  1234 kB` line of /proc/self/status, in bytes. */
function statusBytes(status: string | undefined, field: string): Reading {
  const match = status && new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  return match ? Number(match[1]) * 1024 : [];
}

/** The soft limit of a /proc/self/limits row. */
function softLimit(limits: string | undefined, row: string): Reading {
  const line = limits?.split('\n').find((text) => text.startsWith(row));
  const soft = line?.slice(row.length).trim().split(/\s+/)[0];
  if (soft === undefined) return [];
  return soft === 'unlimited' ? UNLIMITED : Number(soft);
}

/**
 * Since Linux 6.2 the size of /proc/self/fd is the number of open
 * descriptors: one stat instead of listing the directory, a quarter of the
 * cost. Older kernels say 0 there (a process always has some open), and the
 * directory is listed, as prom-client and client_golang count (whose count
 * includes the descriptor of the listing itself).
 */
function openFds(): Reading {
  try {
    return statSync('/proc/self/fd').size || readdirSync('/proc/self/fd').length;
  } catch {
    return [];
  }
}

/** A /proc file's text, or undefined where it cannot be read (not Linux, /proc hidden). */
function readOrUndefined(file: ProcFile): string | undefined {
  try {
    return file.read();
  } catch {
    // Leave the gauges out rather than lie.
    return undefined;
  }
}

/** What the process_* gauges of one scrape are read from. */
interface ProcessReading {
  cpu: NodeJS.CpuUsage;
  status: string | undefined;
  limits: string | undefined;
}

/**
 * One reading of the process per scrape, shared by its ten gauges: each
 * read of /proc and each process.cpuUsage() is a system call, and reading
 * them per gauge made process_* cost a third of a scrape's collectors.
 * prom-client starts every collector of a scrape in one synchronous pass,
 * so a reading kept until the next microtask is that scrape's.
 */
function sharedReading(): () => ProcessReading {
  const status = new ProcFile('/proc/self/status');
  const limits = new ProcFile('/proc/self/limits');
  let current: ProcessReading | undefined;
  return () => {
    if (current === undefined) {
      current = {
        cpu: process.cpuUsage(),
        status: readOrUndefined(status),
        limits: readOrUndefined(limits),
      };
      queueMicrotask(() => {
        current = undefined;
      });
    }
    return current;
  };
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
  const reading = sharedReading();
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
    scrapeCounter(registry, { name, help }, () => microseconds(reading().cpu) / 1e6);
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
      // As prom-client reads it on Linux; process.memoryUsage.rss() would be one more read of /proc.
      () => statusBytes(reading().status, 'VmRSS'),
    ],
    [
      'process_virtual_memory_bytes',
      'Virtual memory size in bytes.',
      () => statusBytes(reading().status, 'VmSize'),
    ],
    [
      'process_heap_bytes',
      'Process heap size in bytes.',
      () => statusBytes(reading().status, 'VmData'),
    ],
    [
      'process_virtual_memory_max_bytes',
      'Maximum amount of virtual memory available in bytes.',
      () => softLimit(reading().limits, 'Max address space'),
    ],
    ['process_open_fds', 'Number of open file descriptors.', openFds],
    [
      'process_max_fds',
      'Maximum number of open file descriptors.',
      () => softLimit(reading().limits, 'Max open files'),
    ],
  ];
  for (const [name, help, read] of memory) {
    scrapeGauge(registry, { name, help }, read, { reset: true });
  }
}
