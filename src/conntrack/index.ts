/**
 * The typed interface to the kernel's conntrack table, and the only caller
 * of the native addon. Read-only: nothing here can change the table.
 */
import { isIP } from 'node:net';

import { loadAddon, LookupTuple } from './addon';
import { decodeRecords, RECORD_SIZE, RecordList } from './record';
import { ConntrackEntry, EntryIdentity } from './types';

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

/**
 * The entries now in the table with these original tuples (and zones), in
 * no particular order; one that is gone is left out. One request to the
 * kernel per tuple, off the JS thread: cheaper than dump() when the tuples
 * are a small part of the table. Rejects like dump().
 */
export async function lookup(wanted: readonly EntryIdentity[]): Promise<ConntrackEntry[]> {
  if (wanted.length === 0) return [];
  wanted.forEach(checkIdentity);
  const tuples = wanted.map(({ family, original, zone }): LookupTuple => [
    family,
    original.src,
    original.srcPort,
    original.dst,
    original.dstPort,
    zone,
  ]);
  return decodeRecords(await addon().lookup(tuples));
}

function checkIdentity({ family, original, zone }: EntryIdentity, index: number): void {
  const fail = (problem: string): never => {
    throw new RangeError(`lookup: entry ${index}: ${problem}`);
  };
  if (family !== 4 && family !== 6) fail(`family ${String(family)} is not 4 or 6`);
  if (isIP(original.src) !== family || isIP(original.dst) !== family) {
    fail(`addresses ${original.src} and ${original.dst} are not both IPv${family}`);
  }
  if (!isUint16(original.srcPort) || !isUint16(original.dstPort)) {
    fail(`ports ${original.srcPort} and ${original.dstPort} are not both 0 to 65535`);
  }
  if (!isUint16(zone)) fail(`zone ${zone} is not 0 to 65535`);
}

function isUint16(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 0xffff;
}

/** Version of the system libnetfilter_conntrack the addon was built against. */
export function libraryVersion(): string {
  return addon().libraryVersion;
}
