/**
 * The typed interface to the kernel's conntrack table, and the only caller
 * of the native addon. Read-only: nothing here can change the table.
 */
import { loadAddon } from './addon';
import { decodeRecords, RECORD_SIZE, RecordList } from './record';
import { ConntrackEntry } from './types';

export * from './types';

/** An error from the kernel, with its errno name (e.g. "EPERM"). */
export interface ConntrackError extends Error {
  code?: string;
  errno?: number;
  syscall?: string;
}

/** The addon, checked to agree with the record decoder. */
export function addon() {
  const native = loadAddon();
  if (native.recordSize !== RECORD_SIZE) {
    throw new Error(
      `conntrack addon record size ${native.recordSize} does not match ${RECORD_SIZE}; rebuild the addon ('npm rebuild conntrack-exporter')`,
    );
  }
  return native;
}

/**
 * Every TCP entry (IPv4 and IPv6) of the current network namespace's
 * conntrack table. The netlink work runs off the JS thread.
 * Rejects with a ConntrackError (e.g. code "EPERM" without CAP_NET_ADMIN).
 */
export async function dump(): Promise<ConntrackEntry[]> {
  const buffer = await addon().dump();
  return decodeRecords(buffer);
}

/**
 * The same entries as dump(), decoded one at a time as they are iterated:
 * for a reader that keeps only a little of each (the live table), so a
 * large table never exists as objects all at once. Call release() on it
 * once read.
 */
export async function readTable(): Promise<RecordList> {
  const native = addon();
  const buffer = await native.dump();
  return new RecordList(buffer, () => native.releaseRecords(buffer));
}

/** Version of the system libnetfilter_conntrack the addon was built against. */
export function libraryVersion(): string {
  return addon().libraryVersion;
}
