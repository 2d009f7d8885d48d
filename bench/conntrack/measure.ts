/**
 * What the conntrack benchmark measures on a running exporter: scrape
 * latency from inside its namespace, its CPU time and resident memory from
 * /proc, and how long it takes to absorb a burst of events.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

import type { Namespace } from '../../test/helpers/netns';

/** /proc/<pid>/stat counts CPU time in these (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;
// NETLINK_NETFILTER, the family of the exporter's event socket.
const NETLINK_NETFILTER = 12;

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** User + system CPU seconds the process has used (not its children's). */
export function cpuSeconds(pid: number): number {
  // Fields after the command name, which is in parentheses and may hold spaces.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Resident memory in MiB. */
export function rssMB(pid: number): number {
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kib) / 1024;
}

/** Wall time of one GET of `url` from inside `ns`, in ms (curl's time_total). */
export async function timeScrape(ns: Namespace, url: string): Promise<number> {
  return (await fetchTimed(ns, url)).ms;
}

/** One GET of `url` from inside `ns`: its wall time in ms and the bytes received. */
export async function fetchTimed(
  ns: Namespace,
  url: string,
  { gzip = false } = {},
): Promise<{ ms: number; bytes: number }> {
  const result = await ns.exec([
    'curl',
    '-sS',
    '--fail',
    ...(gzip ? ['-H', 'Accept-Encoding: gzip'] : []),
    '-o',
    '/dev/null',
    '-w',
    '%{time_total} %{size_download}',
    url,
  ]);
  if (result.code !== 0) throw new Error(`scrape of ${url} failed: ${result.stderr}`);
  const [seconds, bytes] = result.stdout.trim().split(' ').map(Number);
  return { ms: (seconds ?? NaN) * 1000, bytes: bytes ?? NaN };
}

/**
 * `count` GETs of `url` by one curl from inside `ns`, over one kept-alive
 * connection as Prometheus scrapes: each one's wall time in ms and bytes.
 */
export async function fetchKeptAlive(
  ns: Namespace,
  url: string,
  count: number,
  { gzip = false } = {},
): Promise<Array<{ ms: number; bytes: number }>> {
  const urls = Array.from({ length: count }, () => ['-o', '/dev/null', url]).flat();
  const result = await ns.exec([
    'curl',
    '-sS',
    '--fail',
    ...(gzip ? ['-H', 'Accept-Encoding: gzip'] : []),
    '-w',
    '%{time_total} %{size_download}\n',
    ...urls,
  ]);
  if (result.code !== 0) throw new Error(`scrapes of ${url} failed: ${result.stderr}`);
  return result.stdout
    .trim()
    .split('\n')
    .map((line) => {
      const [seconds, bytes] = line.split(' ').map(Number);
      return { ms: (seconds ?? NaN) * 1000, bytes: bytes ?? NaN };
    });
}

export async function timeScrapes(ns: Namespace, url: string, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) times.push(await timeScrape(ns, url));
  return times;
}

/** The kernel's queue for a process's conntrack event socket. */
interface EventQueue {
  /** Bytes of events waiting to be read. */
  queuedBytes: number;
  /** Events the kernel dropped because the queue was full. */
  drops: number;
}

/**
 * Finds the process's event socket (a netfilter netlink socket subscribed
 * to groups) in /proc/<pid>/net/netlink, which shows the sockets of the
 * process's own namespace.
 */
export function eventQueueReader(pid: number): () => EventQueue {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    const target = (() => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        return '';
      }
    })();
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode !== undefined) inodes.add(inode);
  }
  const read = (): EventQueue | undefined => {
    const lines = readFileSync(`/proc/${pid}/net/netlink`, 'utf8').trim().split('\n').slice(1);
    for (const line of lines) {
      // sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
      const [, eth, , groups, rmem, , , , drops, inode] = line.trim().split(/\s+/);
      if (Number(eth) !== NETLINK_NETFILTER || groups === '00000000') continue;
      if (inode === undefined || !inodes.has(inode)) continue;
      return { queuedBytes: Number(rmem), drops: Number(drops) };
    }
    return undefined;
  };
  if (read() === undefined) throw new Error(`process ${pid} has no conntrack event socket`);
  return () => read() ?? { queuedBytes: 0, drops: 0 };
}

export interface Absorbed {
  /** From the first sign of work to the last event handled. */
  seconds: number;
  cpuSeconds: number;
  /** Events the kernel dropped for the exporter's socket meanwhile. */
  drops: number;
}

const POLL_MS = 5;
// Nothing queued and no CPU used for this long: the burst is over.
const QUIET_MS = 300;
const GIVE_UP_MS = 120_000;

/**
 * Watches the exporter while `producer` makes a burst of events: the time
 * from its first CPU tick or queued event to the last, and the CPU used.
 * Both are read from /proc, so watching costs the exporter nothing.
 *
 * With `resume`, the exporter was stopped (SIGSTOP) while the burst queued
 * in its socket: it is continued here, and the time runs from then.
 */
export async function watchBurst(
  pid: number,
  producer: Promise<unknown>,
  { resume = false } = {},
): Promise<Absorbed> {
  const queue = eventQueueReader(pid);
  const startCpu = cpuSeconds(pid);
  const startDrops = queue().drops;
  let produced = false;
  const done = producer.then(() => (produced = true));
  let firstBusy: number | undefined;
  if (resume) {
    firstBusy = performance.now();
    process.kill(pid, 'SIGCONT');
  }
  let lastBusy = performance.now();
  let lastCpu = startCpu;
  const deadline = performance.now() + GIVE_UP_MS;
  while (performance.now() < deadline) {
    const now = performance.now();
    const cpu = cpuSeconds(pid);
    if (cpu !== lastCpu || queue().queuedBytes > 0) {
      firstBusy ??= now;
      lastBusy = now;
      lastCpu = cpu;
    }
    if (produced && now - lastBusy > QUIET_MS) break;
    await pause(POLL_MS);
  }
  await done;
  return {
    seconds: (lastBusy - (firstBusy ?? lastBusy)) / 1000,
    cpuSeconds: lastCpu - startCpu,
    drops: queue().drops - startDrops,
  };
}

export interface IdleSubject {
  pid: number;
  url: string;
  /** When its first scrape comes, after the start of the window. */
  offsetMs: number;
}

/**
 * CPU seconds per minute each subject uses over `seconds`, scraped every
 * `intervalMs` as Prometheus would and otherwise left alone. Scrapes of
 * different subjects are staggered so that they do not overlap.
 */
export async function idleCpuPerMinute(
  ns: Namespace,
  subjects: readonly IdleSubject[],
  seconds: number,
  intervalMs: number,
): Promise<number[]> {
  const start = performance.now();
  const before = subjects.map((subject) => cpuSeconds(subject.pid));
  await Promise.all(
    subjects.map(async (subject) => {
      for (let at = subject.offsetMs; at < seconds * 1000; at += intervalMs) {
        await pause(start + at - performance.now());
        await timeScrape(ns, subject.url);
      }
    }),
  );
  // A scrape may end after the window: its cost belongs to it all the same,
  // and the window's length, not the wait, is what it is spread over.
  await pause(start + seconds * 1000 - performance.now());
  return subjects.map(
    (subject, i) => ((cpuSeconds(subject.pid) - (before[i] ?? 0)) * 60) / seconds,
  );
}
