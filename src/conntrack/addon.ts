import { loadNativeParts } from '../native-addon';

/** An open subscription to conntrack events (native/conntrack/events.h). */
export interface NativeEventStream {
  close(): void;
  ref(): void;
  unref(): void;
  readonly receiveBufferBytes: number;
}

/** An original tuple to look up, as the addon takes it (native/conntrack/lookup.h). */
export type LookupTuple = readonly [
  family: 4 | 6,
  src: string,
  srcPort: number,
  dst: string,
  dstPort: number,
  zone: number,
];

/** The addon's conntrack part (native/conntrack/init.cc). */
export interface NativeAddon {
  dump(): Promise<ArrayBuffer>;
  /** Packed records of those of the tuples that are in the table now. */
  lookup(tuples: readonly LookupTuple[]): Promise<ArrayBuffer>;
  /**
   * The kernel's answer to a per-CPU conntrack statistics dump, its netlink
   * messages as they arrived (decoded by src/conntrack/kernel-stats.ts).
   */
  kernelStats(): Promise<ArrayBuffer>;
  /** Frees a dump's records at once; the buffer is detached (empty) afterwards. */
  releaseRecords(records: ArrayBuffer): void;
  EventStream: new (
    receiveBufferBytes: number,
    onBatch: (records: ArrayBuffer, drained: boolean) => void,
    onOverflow: () => void,
    onError: (error: Error) => void,
  ) => NativeEventStream;
  /** Later sockets and /proc/sys/net files are opened in this network namespace. */
  useNetns(path: string): void;
  interfaceAddresses(): string[];
  readNetnsFile(path: string): string;
  readonly recordSize: number;
  readonly libraryVersion: string;
}

/** The conntrack part of the addon, loaded once. */
export function loadAddon(): NativeAddon {
  return loadNativeParts().conntrack as NativeAddon;
}
