import { openSync, readdirSync, readSync } from 'node:fs';
import { scrapeCounter, scrapeGauge, type Reading } from './scrape-time';
import type * as PromClient from 'prom-client';

/** Go's procfs reads "unlimited" as the largest uint64, and client_golang serves that. */
const UNLIMITED = 2 ** 64 - 1;

/**
 * A file of /proc read anew at each scrape through one descriptor kept
 * open: a read from offset 0 makes the kernel write the file afresh, and
 * opening, sizing and closing it per scrape cost twice the read
 * (readFileSync). Costs one descriptor per file for the life of the process.
 */
class ProcFile {
  private fd: number | undefined;
  private buffer = Buffer.allocUnsafe(4096);

  constructor(private readonly path: string) {}

  read(): string | undefined {
    try {
      this.fd ??= openSync(this.path, 'r');
      for (;;) {
        const length = readSync(this.fd, this.buffer, 0, this.buffer.length, 0);
        if (length < this.buffer.length) return this.buffer.toString('latin1', 0, length);
        // Larger than the buffer: the kernel writes it whole again into a larger one.
        this.buffer = Buffer.allocUnsafe(this.buffer.length * 2);
      }
    } catch {
      // Not Linux, or /proc hidden: leave the gauge out rather than lie.
      return undefined;
    }
  }
}

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

function openFds(): Reading {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return [];
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
        status: status.read(),
        limits: limits.read(),
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
