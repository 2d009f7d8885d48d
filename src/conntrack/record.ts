import os from 'node:os';

import { formatIPv4, formatIPv6 } from './address';
import { ConntrackEntry, TcpState, Tuple } from './types';

/** Layout of one packed record; must match native/record.h. */
export const RECORD_SIZE = 136;
const OFFSET = {
  family: 0,
  tcpState: 1,
  flags: 2,
  eventType: 3,
  status: 4,
  mark: 8,
  id: 12,
  timeout: 16,
  zone: 20,
  origSrcPort: 22,
  origDstPort: 24,
  replSrcPort: 26,
  replDstPort: 28,
  origSrc: 32,
  origDst: 48,
  replSrc: 64,
  replDst: 80,
  origPackets: 96,
  origBytes: 104,
  replPackets: 112,
  replBytes: 120,
  startNs: 128,
} as const;
const NO_TCP_STATE = 0xff;
const HAS_COUNTERS = 1;
const HAS_TIMESTAMP = 2;

// The addon writes numbers in host byte order.
const LITTLE_ENDIAN = os.endianness() === 'LE';

/** Thrown when a buffer cannot be a sequence of records. */
export class RecordFormatError extends Error {}

/**
 * Decodes packed records (see native/record.h) into entries.
 * Pure: tested on recorded buffers without a kernel.
 */
export function decodeRecords(buffer: ArrayBuffer): ConntrackEntry[] {
  if (buffer.byteLength % RECORD_SIZE !== 0) {
    throw new RecordFormatError(
      `buffer of ${buffer.byteLength} bytes is not a whole number of ${RECORD_SIZE}-byte records`,
    );
  }
  const bytes = new Uint8Array(buffer);
  const view = new DataView(buffer);
  // The same few addresses recur in most entries (this host's own), so
  // formatting each distinct IPv4 address once per dump pays off.
  const ipv4Names = new Map<number, string>();
  const count = buffer.byteLength / RECORD_SIZE;
  const entries = new Array<ConntrackEntry>(count);
  for (let i = 0; i < count; i++) {
    entries[i] = decodeRecord(bytes, view, i * RECORD_SIZE, ipv4Names);
  }
  return entries;
}

function decodeRecord(
  bytes: Uint8Array,
  view: DataView,
  base: number,
  ipv4Names: Map<number, string>,
): ConntrackEntry {
  const familyByte = bytes[base + OFFSET.family];
  if (familyByte !== 4 && familyByte !== 6) {
    throw new RecordFormatError(`record at byte ${base} has unknown address family ${familyByte}`);
  }
  const family: 4 | 6 = familyByte;
  const address = (offset: number): string => {
    if (family === 6) return formatIPv6(bytes, base + offset);
    const key = view.getUint32(base + offset, false);
    let name = ipv4Names.get(key);
    if (name === undefined) {
      name = formatIPv4(bytes, base + offset);
      ipv4Names.set(key, name);
    }
    return name;
  };
  const u16 = (offset: number) => view.getUint16(base + offset, LITTLE_ENDIAN);
  const u32 = (offset: number) => view.getUint32(base + offset, LITTLE_ENDIAN);
  const u64 = (offset: number) => view.getBigUint64(base + offset, LITTLE_ENDIAN);

  const original: Tuple = {
    src: address(OFFSET.origSrc),
    dst: address(OFFSET.origDst),
    srcPort: u16(OFFSET.origSrcPort),
    dstPort: u16(OFFSET.origDstPort),
  };
  const reply: Tuple = {
    src: address(OFFSET.replSrc),
    dst: address(OFFSET.replDst),
    srcPort: u16(OFFSET.replSrcPort),
    dstPort: u16(OFFSET.replDstPort),
  };
  const stateByte = bytes[base + OFFSET.tcpState]!;
  const flags = bytes[base + OFFSET.flags]!;
  const entry: ConntrackEntry = {
    family,
    tcpState: stateByte === NO_TCP_STATE ? undefined : (stateByte as TcpState),
    original,
    reply,
    status: u32(OFFSET.status),
    mark: u32(OFFSET.mark),
    zone: u16(OFFSET.zone),
    id: u32(OFFSET.id),
    timeout: u32(OFFSET.timeout),
  };
  if (flags & HAS_COUNTERS) {
    entry.counters = {
      original: { packets: u64(OFFSET.origPackets), bytes: u64(OFFSET.origBytes) },
      reply: { packets: u64(OFFSET.replPackets), bytes: u64(OFFSET.replBytes) },
    };
  }
  if (flags & HAS_TIMESTAMP) entry.startNs = u64(OFFSET.startNs);
  return entry;
}
