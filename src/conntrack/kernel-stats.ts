/**
 * The kernel's own statistics of its conntrack table (what `conntrack -S`
 * prints): counted per CPU by the kernel, read through ctnetlink by the addon
 * (native/conntrack/kernel-stats.h), decoded and summed here.
 */
import os from 'node:os';

import { loadAddon } from './addon';

/**
 * The CTA_STATS_* attributes (linux/netfilter/nfnetlink_conntrack.h), by
 * attribute type, named as `conntrack -S` names them. The later ones
 * (search_restart, clash_resolve, chaintoolong) came with later kernels; an
 * older kernel does not send them. The types the header marks "no longer
 * used" (searched, new, ignore, delete, delete_list) are skipped, like
 * types this list does not know yet.
 */
const ATTRIBUTE_NAMES = [
  undefined,
  undefined,
  'found',
  undefined,
  'invalid',
  undefined,
  undefined,
  undefined,
  'insert',
  'insert_failed',
  'drop',
  'early_drop',
  'error',
  'search_restart',
  'clash_resolve',
  'chaintoolong',
] as const;

export type KernelStat = NonNullable<(typeof ATTRIBUTE_NAMES)[number]>;

/** Every statistic a kernel may send, in attribute order. */
export const KERNEL_STATS: readonly KernelStat[] = ATTRIBUTE_NAMES.filter(
  (name): name is KernelStat => name !== undefined,
);

/** The statistics summed over the CPUs; a statistic this kernel does not send is absent. */
export interface KernelStats {
  /** CPUs the kernel answered for (one message each). */
  cpus: number;
  totals: Partial<Record<KernelStat, number>>;
}

/** Thrown when the bytes are not the kernel's answer to a statistics dump. */
export class KernelStatsFormatError extends Error {}

// nlmsghdr: len u32, type u16, flags u16, seq u32, pid u32 (host order);
// then nfgenmsg: family u8, version u8, res_id be16 (the CPU).
const NLMSG_HEADER = 16;
const NFGENMSG = 4;
// nlattr: len u16, type u16 (host order); the value follows, padded to 4.
const NLA_HEADER = 4;
const NLA_TYPE_MASK = 0x3fff;
// (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET_STATS_CPU
const STATS_CPU_MESSAGE = (1 << 8) | 4;
// Netlink headers are in host byte order, the attribute values big-endian.
const LITTLE_ENDIAN = os.endianness() === 'LE';

const align4 = (length: number) => (length + 3) & ~3;

/**
 * Sums the per-CPU messages of a statistics dump, as the addon returns them
 * (each netlink message whole, at 4-byte aligned offsets). Attributes of a
 * type it does not know (a newer kernel's) are skipped.
 */
export function decodeKernelStats(bytes: ArrayBuffer | Uint8Array): KernelStats {
  const view =
    bytes instanceof Uint8Array
      ? new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      : new DataView(bytes);
  const totals: Partial<Record<KernelStat, number>> = {};
  let cpus = 0;
  for (let offset = 0; offset < view.byteLength;) {
    if (view.byteLength - offset < NLMSG_HEADER) {
      throw new KernelStatsFormatError(`netlink message at byte ${offset} is cut short`);
    }
    const length = view.getUint32(offset, LITTLE_ENDIAN);
    const type = view.getUint16(offset + 4, LITTLE_ENDIAN);
    if (length < NLMSG_HEADER + NFGENMSG || offset + length > view.byteLength) {
      throw new KernelStatsFormatError(
        `netlink message at byte ${offset} has length ${length}, outside the ${view.byteLength} bytes read`,
      );
    }
    if (type !== STATS_CPU_MESSAGE) {
      throw new KernelStatsFormatError(
        `netlink message at byte ${offset} has type 0x${type.toString(16)}, not a conntrack CPU statistics message`,
      );
    }
    cpus++;
    const end = offset + length;
    for (let at = offset + NLMSG_HEADER + NFGENMSG; at + NLA_HEADER <= end;) {
      const attributeLength = view.getUint16(at, LITTLE_ENDIAN);
      if (attributeLength < NLA_HEADER || at + attributeLength > end) {
        throw new KernelStatsFormatError(
          `attribute at byte ${at} has length ${attributeLength}, outside its message`,
        );
      }
      const name = ATTRIBUTE_NAMES[view.getUint16(at + 2, LITTLE_ENDIAN) & NLA_TYPE_MASK];
      // Each statistic is a 32-bit counter of one CPU (nla_put_be32).
      if (name !== undefined && attributeLength === NLA_HEADER + 4) {
        totals[name] = (totals[name] ?? 0) + view.getUint32(at + NLA_HEADER, false);
      }
      at += align4(attributeLength);
    }
    offset += align4(length);
  }
  return { cpus, totals };
}

/**
 * The kernel's conntrack statistics of the watched network namespace,
 * summed over its CPUs. One netlink request on the JS thread, as
 * readNetFile reads /proc: the kernel answers from memory in microseconds,
 * where a trip through the thread pool cost more than the request. Rejects
 * with the kernel's error (e.g. code "EPERM" without CAP_NET_ADMIN).
 */
export function readKernelStats(): Promise<KernelStats> {
  return Promise.resolve().then(() => decodeKernelStats(loadAddon().kernelStats()));
}
