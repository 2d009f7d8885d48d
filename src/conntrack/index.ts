/**
 * The typed interface to the kernel's conntrack table, and the only caller
 * of the native addon. Read-only: nothing here can change the table.
 */
import { isIP } from 'node:net';

import { loadAddon } from './addon';
import { decodeRecords, RECORD_SIZE, RecordList } from './record';
import { ConntrackEntry, EntryIdentity, identityKey, TcpState } from './types';

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
 * kernel per tuple, many per system call, off the JS thread. Rejects like
 * dump().
 */
export async function lookup(wanted: readonly EntryIdentity[]): Promise<ConntrackEntry[]> {
  wanted.forEach(checkIdentity);
  return lookupKeys(wanted.map(identityKey));
}

/**
 * lookup() by keys made with identityKey, unchecked: for keys that came
 * from the kernel's own entries, as the live table's do. A malformed one
 * throws a TypeError.
 */
export async function lookupKeys(keys: readonly string[]): Promise<ConntrackEntry[]> {
  if (keys.length === 0) return [];
  return decodeRecords(await addon().lookup(keys.join('\n')));
}

/** What check() found of one connection. */
export type Checked = { gone: true } | { gone: false; state: TcpState | undefined };

// The addon's answer bytes besides a TCP state (native/conntrack/lookup.h).
const CHECK_GONE = 0xfe;
export const CHECK_NO_STATE = 0xff;

/**
 * Whether each connection, known by its key (identityKey) and kernel id, is
 * still in the table, and in which TCP state; in the order asked. A tuple
 * that now belongs to another connection (another id) counts as gone. The
 * same requests as lookupKeys(), but nothing decoded: cheaper per entry.
 */
export async function checkConnections(
  keys: readonly string[],
  ids: readonly number[],
): Promise<Checked[]> {
  if (keys.length === 0) return [];
  const lines = keys.map((key, i) => `${key}|${ids[i]}`);
  const answers = new Uint8Array(await addon().check(lines.join('\n')));
  return Array.from(answers, checkedOf);
}

/** What the byte check() answers for a connection means. */
export function checkedOf(answer: number): Checked {
  if (answer === CHECK_GONE) return { gone: true };
  return { gone: false, state: answer === CHECK_NO_STATE ? undefined : (answer as TcpState) };
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
