import path from 'node:path';

/** An open subscription to conntrack events (native/events.h). */
export interface NativeEventStream {
  close(): void;
  ref(): void;
  unref(): void;
  readonly receiveBufferBytes: number;
}

/**
 * The proxy's native data path (native/relay.h): accepts, dials and copies
 * bytes without JS per connection. Checked and wrapped by src/proxy/tcp-proxy.ts.
 */
export interface NativeTcpRelay {
  /** host: '' (every interface) or an IP literal. Throws the system error (EADDRINUSE, ...). */
  listen(host: string, port: number): { address: string; port: number; family: string };
  stopAccepting(): void;
  readonly openConnections: number;
  /** Calls onIdle once no connection is open (at once if none is). */
  notifyWhenIdle(): void;
  resetAll(): void;
  close(): void;
}

export type NativeTcpRelayConstructor = new (
  targetHost: string,
  targetPort: number,
  dialTimeoutMs: number,
  countBytes: boolean,
  counters: Float64Array,
  onDialFailure: (code: string, message: string) => void,
  onAcceptError: (code: string, message: string) => void,
  onIdle: () => void,
) => NativeTcpRelay;

/** An original tuple to look up, as the addon takes it (native/lookup.h). */
export type LookupTuple = readonly [
  family: 4 | 6,
  src: string,
  srcPort: number,
  dst: string,
  dstPort: number,
  zone: number,
];

/** The native addon's interface (native/addon.cc). */
export interface NativeAddon {
  dump(): Promise<ArrayBuffer>;
  /** Packed records of those of the tuples that are in the table now. */
  lookup(tuples: readonly LookupTuple[]): Promise<ArrayBuffer>;
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
  TcpRelay: NativeTcpRelayConstructor;
  /** The order of the relay's counters in its Float64Array. */
  readonly relayCounterNames: readonly string[];
  /** The most bytes one direction of a connection holds in the proxy. */
  readonly relayBufferBytes: number;
}

const ADDON_PATH = path.join(__dirname, '..', '..', 'build', 'Release', 'conntrack.node');

let loaded: NativeAddon | undefined;

/**
 * Loads the addon once. A raw dlopen error tells a user little, so the
 * failure names what to install or rebuild.
 */
export function loadAddon(): NativeAddon {
  if (loaded) return loaded;
  try {
    // A compiled addon can only be loaded through require().
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(ADDON_PATH) as NativeAddon;
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0];
    throw new Error(
      `cannot load the conntrack addon (${reason}); install libnetfilter-conntrack ` +
        `(apt-get install libnetfilter-conntrack-dev build-essential) and rebuild with 'npm rebuild conntrack-exporter'`,
    );
  }
  return loaded;
}
