import os from 'node:os';

import { formatIPv4, formatIPv6 } from './address';
import { ConntrackEntry, TcpState, Tuple } from './types';

/** Layout of one packed record; must match native/conntrack/record.h. */
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
 * Decodes packed records (see native/conntrack/record.h) into entries.
 * Pure: tested on recorded buffers without a kernel.
 */
export function decodeRecords(buffer: ArrayBuffer): ConntrackEntry[] {
  return new RecordList(buffer).toArray();
}

/**
 * Packed records decoded one at a time, as they are iterated. Whoever
 * keeps a little of each entry (the live table) then never holds the whole
 * table as objects: each one dies young, where an array of them would live
 * long enough to be copied into the old generation, and the heap would keep
 * that size after the array is gone.
 */
export class RecordList implements Iterable<ConntrackEntry> {
  readonly length: number;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;

  /** `free`, if given, gives the buffer's memory back; release() calls it. */
  constructor(
    buffer: ArrayBuffer,
    private readonly free?: () => void,
  ) {
    if (buffer.byteLength % RECORD_SIZE !== 0) {
      throw new RecordFormatError(
        `buffer of ${buffer.byteLength} bytes is not a whole number of ${RECORD_SIZE}-byte records`,
      );
    }
    // A buffer with no bytes may come detached from the addon (an external
    // one that never had data), and a view of a detached buffer throws.
    const bytes = buffer.byteLength === 0 ? new ArrayBuffer(0) : buffer;
    this.bytes = new Uint8Array(bytes);
    this.view = new DataView(bytes);
    this.length = buffer.byteLength / RECORD_SIZE;
  }

  /** All at once: a plain loop, cheaper than iterating when every entry is kept anyway. */
  toArray(): ConntrackEntry[] {
    const { bytes, view, length } = this;
    const names = new AddressNames(bytes, view);
    const entries = new Array<ConntrackEntry>(length);
    for (let i = 0; i < length; i++) entries[i] = decodeRecord(bytes, view, i * RECORD_SIZE, names);
    return entries;
  }

  *[Symbol.iterator](): Iterator<ConntrackEntry> {
    const { bytes, view, length } = this;
    const names = new AddressNames(bytes, view);
    for (let i = 0; i < length; i++) yield decodeRecord(bytes, view, i * RECORD_SIZE, names);
  }

  /**
   * Frees the records once they have been read; none can be read after.
   * The buffer is large and outlives a long read, so the garbage collector
   * may not free it for minutes (RECORD_SIZE bytes per entry; the RSS at
   * each table size is in BENCHMARKS.md).
   */
  release(): void {
    this.free?.();
  }
}

/** The text of an IPv6 address, with the three words of it that its key leaves out. */
interface Ipv6Name {
  high: number;
  middle: number;
  low: number;
  text: string;
}

/**
 * The text of each address met in one buffer. The same few addresses recur
 * in most entries (this host's own, and its busiest peers), so each distinct
 * one is formatted once per buffer; equal addresses also become one string,
 * whose hash later Map lookups by address compute only once.
 */
class AddressNames {
  private readonly ipv4 = new Map<number, string>();
  // Keyed by the last 32 bits, where the addresses of one network differ.
  private readonly ipv6 = new Map<number, Ipv6Name[]>();

  constructor(
    private readonly bytes: Uint8Array,
    private readonly view: DataView,
  ) {}

  ipv4At(offset: number): string {
    const key = this.view.getUint32(offset, false);
    let name = this.ipv4.get(key);
    if (name === undefined) {
      name = formatIPv4(this.bytes, offset);
      this.ipv4.set(key, name);
    }
    return name;
  }

  ipv6At(offset: number): string {
    const { view } = this;
    const high = view.getUint32(offset, false);
    const middle = view.getUint32(offset + 4, false);
    const low = view.getUint32(offset + 8, false);
    const key = view.getUint32(offset + 12, false);
    let names = this.ipv6.get(key);
    if (names === undefined) {
      names = [];
      this.ipv6.set(key, names);
    }
    for (const name of names) {
      if (name.high === high && name.middle === middle && name.low === low) return name.text;
    }
    const text = formatIPv6(this.bytes, offset);
    names.push({ high, middle, low, text });
    return text;
  }
}

// Plain functions of (view, base) rather than closures made per record: a
// dump decodes hundreds of thousands of records, and those closures were
// most of its garbage.
function decodeRecord(
  bytes: Uint8Array,
  view: DataView,
  base: number,
  names: AddressNames,
): ConntrackEntry {
  const familyByte = bytes[base + OFFSET.family];
  if (familyByte !== 4 && familyByte !== 6) {
    throw new RecordFormatError(`record at byte ${base} has unknown address family ${familyByte}`);
  }
  const family: 4 | 6 = familyByte;
  const original: Tuple = {
    src: address(names, family, base + OFFSET.origSrc),
    dst: address(names, family, base + OFFSET.origDst),
    srcPort: view.getUint16(base + OFFSET.origSrcPort, LITTLE_ENDIAN),
    dstPort: view.getUint16(base + OFFSET.origDstPort, LITTLE_ENDIAN),
  };
  const reply: Tuple = {
    src: address(names, family, base + OFFSET.replSrc),
    dst: address(names, family, base + OFFSET.replDst),
    srcPort: view.getUint16(base + OFFSET.replSrcPort, LITTLE_ENDIAN),
    dstPort: view.getUint16(base + OFFSET.replDstPort, LITTLE_ENDIAN),
  };
  const stateByte = bytes[base + OFFSET.tcpState]!;
  const flags = bytes[base + OFFSET.flags]!;
  const entry: ConntrackEntry = {
    family,
    tcpState: stateByte === NO_TCP_STATE ? undefined : (stateByte as TcpState),
    original,
    reply,
    status: view.getUint32(base + OFFSET.status, LITTLE_ENDIAN),
    mark: view.getUint32(base + OFFSET.mark, LITTLE_ENDIAN),
    zone: view.getUint16(base + OFFSET.zone, LITTLE_ENDIAN),
    id: view.getUint32(base + OFFSET.id, LITTLE_ENDIAN),
    timeout: view.getUint32(base + OFFSET.timeout, LITTLE_ENDIAN),
  };
  if (flags & HAS_COUNTERS) {
    entry.counters = {
      original: {
        packets: view.getBigUint64(base + OFFSET.origPackets, LITTLE_ENDIAN),
        bytes: view.getBigUint64(base + OFFSET.origBytes, LITTLE_ENDIAN),
      },
      reply: {
        packets: view.getBigUint64(base + OFFSET.replPackets, LITTLE_ENDIAN),
        bytes: view.getBigUint64(base + OFFSET.replBytes, LITTLE_ENDIAN),
      },
    };
  }
  if (flags & HAS_TIMESTAMP)
    entry.startNs = view.getBigUint64(base + OFFSET.startNs, LITTLE_ENDIAN);
  return entry;
}

function address(names: AddressNames, family: 4 | 6, offset: number): string {
  return family === 4 ? names.ipv4At(offset) : names.ipv6At(offset);
}
