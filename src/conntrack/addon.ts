import { loadNativeParts } from '../native-addon';

/** An open subscription to conntrack events (native/conntrack/events.h). */
export interface NativeEventStream {
  close(): void;
  ref(): void;
  unref(): void;
  readonly receiveBufferBytes: number;
}

/** The entries that send no events, checked in rounds (native/conntrack/silent-list.h). */
export interface NativeSilentList {
  /** Lines "key|id|state" (identityKey, kernel id, TCP state or 255); a new round starts. */
  replace(lines: string): void;
  /** Returns the size after. */
  forget(key: string): number;
  /** Lines "key|id|state" of the entries whose state changed, state 254 for those gone. */
  check(count: number): Promise<{ changes: string; checked: number; wrapped: boolean }>;
  /** The keys listed, one per line. */
  keys(): string;
  rewind(): void;
  readonly size: number;
  readonly remaining: number;
}

/** The addon's conntrack part (native/conntrack/init.cc). */
export interface NativeAddon {
  dump(): Promise<ArrayBuffer>;
  /** Packed records of those of the keys (identityKey, one per line) that are in the table now. */
  lookup(keys: string): Promise<ArrayBuffer>;
  /** One byte per line "key|id", in order: the TCP state if still that connection, else 0xfe. */
  check(keys: string): Promise<ArrayBuffer>;
  /**
   * The kernel's answer to a per-CPU conntrack statistics dump, its netlink
   * messages as they arrived (decoded by src/conntrack/kernel-stats.ts).
   */
  kernelStats(): ArrayBuffer;
  /** Frees a dump's records at once; the buffer is detached (empty) afterwards. */
  releaseRecords(records: ArrayBuffer): void;
  EventStream: new (
    receiveBufferBytes: number,
    onBatch: (records: ArrayBuffer, drained: boolean) => void,
    onOverflow: () => void,
    onError: (error: Error) => void,
  ) => NativeEventStream;
  SilentList: new () => NativeSilentList;
  /** Later sockets and /proc/sys/net files are opened in this network namespace. */
  useNetns(path: string): void;
  interfaceAddresses(): string[];
  /** Whether interfaces or addresses may have changed since the last call; true at the first. */
  addressesChanged(): boolean;
  readNetnsFile(path: string): string;
  readonly recordSize: number;
  readonly libraryVersion: string;
}

/** The conntrack part of the addon, loaded once. */
export function loadAddon(): NativeAddon {
  return loadNativeParts().conntrack as NativeAddon;
}
