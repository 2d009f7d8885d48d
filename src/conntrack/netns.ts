/**
 * Watching another network namespace's table (--netns). The addon opens its
 * netlink sockets, and the /proc/sys/net files, inside that namespace; this
 * module is the only place that knows whether one was chosen.
 */
import { EnvironmentError } from '../errors';
import { readProcFile } from '../proc-file';
import { loadAddon } from './addon';

let watched: string | undefined;

/**
 * From now on, read the conntrack table, the interface addresses and the
 * netfilter settings of the network namespace at `path`
 * (/var/run/netns/NAME or /proc/PID/ns/net). Call once, at start.
 */
export function watchNetworkNamespace(path: string): void {
  try {
    loadAddon().useNetns(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EPERM'
          ? 'entering a network namespace needs CAP_SYS_ADMIN (and CAP_SYS_PTRACE for /proc/PID/ns/net of another user)'
          : code === 'EINVAL'
            ? 'not a network namespace'
            : (error as Error).message;
    throw new EnvironmentError(
      `--netns: cannot watch ${path}: ${reason}; give /var/run/netns/NAME or /proc/PID/ns/net`,
    );
  }
  watched = path;
}

/** The watched namespace, or undefined for the exporter's own. */
export function watchedNetworkNamespace(): string | undefined {
  return watched;
}

/**
 * A /proc/sys/net file as the watched namespace shows it. Read at once,
 * as the addon reads it in another namespace: the kernel answers from
 * memory in microseconds, where fs/promises' open, stat, reads and close,
 * each a trip through the thread pool, kept every scrape waiting for a
 * noticeable part of an events-mode scrape (BENCHMARKS.md). In our own
 * namespace through a descriptor kept open (see ProcFile).
 */
export function readNetFile(file: string): Promise<string> {
  return Promise.resolve().then(() => readNetFileNow(file));
}

/** readNetFile, for a caller that cannot wait (the landing page). Throws when unreadable. */
export function readNetFileNow(file: string): string {
  return watched === undefined ? readProcFile(file) : loadAddon().readNetnsFile(file);
}

/** The watched namespace's interface addresses; undefined when it is our own. */
export function watchedInterfaceAddresses(): string[] | undefined {
  return watched === undefined ? undefined : loadAddon().interfaceAddresses();
}

/**
 * Whether the interfaces or addresses of the watched namespace (or our own)
 * may have changed since the last call, from rtnetlink's notices: true at
 * the first call, after notices were lost, and always where they cannot be
 * had.
 */
export function interfacesMayHaveChanged(): boolean {
  return loadAddon().addressesChanged();
}
