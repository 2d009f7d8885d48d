import { readNetFile } from './netns';

const PROC = '/proc/sys/net/netfilter';

export interface TableUsage {
  /** Entries of every protocol in this namespace's table (nf_conntrack_count). */
  entries: number;
  /** The most entries the table holds before the kernel drops new flows (nf_conntrack_max). */
  limit: number;
}

async function readNumber(file: string): Promise<number> {
  return Number((await readNetFile(file)).trim());
}

/**
 * How full the conntrack table is. Undefined when /proc does not say (no
 * nf_conntrack module, or /proc not mounted in a container).
 */
export async function readTableUsage(dir = PROC): Promise<TableUsage | undefined> {
  try {
    const [entries, limit] = await Promise.all([
      readNumber(`${dir}/nf_conntrack_count`),
      readNumber(`${dir}/nf_conntrack_max`),
    ]);
    return { entries, limit };
  } catch {
    return undefined;
  }
}

/**
 * Whether the kernel stamps new entries with their start time
 * (net.netfilter.nf_conntrack_timestamp). The exporter only reads it.
 */
export async function kernelTimestampsOn(dir = PROC): Promise<boolean> {
  try {
    return (await readNumber(`${dir}/nf_conntrack_timestamp`)) === 1;
  } catch {
    return false;
  }
}
