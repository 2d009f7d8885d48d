import path from 'node:path';

// node-gyp-build ships no types; only its path() is used.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };

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

const PACKAGE_ROOT = path.join(__dirname, '..', '..');

/** The Node-API version the addon is built for: binding.gyp's NAPI_VERSION. */
export const NAPI_VERSION = 8;

const BUILD_HINT =
  "build it with 'npm rebuild conntrack-exporter', which needs " +
  "'apt-get install libnetfilter-conntrack-dev build-essential pkg-config python3'";

/** Why this Node cannot load the addon, or undefined if it can. */
export function napiProblem(napi: string | undefined, node: string): string | undefined {
  if (napi !== undefined && Number(napi) >= NAPI_VERSION) return undefined;
  return (
    `the conntrack addon needs Node-API version ${NAPI_VERSION} or newer, ` +
    `Node.js ${node} has ${napi ?? 'none'}; use Node.js 20, 22, 24 or 26`
  );
}

/**
 * The one line for an addon that did not load: a missing shared library is
 * named by its Debian package (the addon needs no other), anything else
 * points at a rebuild.
 */
export function addonLoadError(file: string, message: string): string {
  const reason = message.split('\n')[0] ?? '';
  if (/lib(netfilter_conntrack|nfnetlink|mnl)\.so/.test(reason)) {
    return (
      'cannot load the conntrack addon: the library libnetfilter_conntrack is not installed; ' +
      "install it with 'apt-get install libnetfilter-conntrack3'"
    );
  }
  return `cannot load the conntrack addon ${file} (${reason}); ${BUILD_HINT}`;
}

let loaded: NativeAddon | undefined;

/**
 * Loads the addon once: a local build (build/Release) if there is one, else
 * the prebuilt addon for this platform (prebuilds/, see scripts/prebuild.sh),
 * as node-gyp-build finds it. A raw dlopen error tells a user little, so a
 * failure names what to install or rebuild.
 */
export function loadAddon(): NativeAddon {
  if (loaded) return loaded;
  const problem = napiProblem(process.versions.napi, process.version);
  if (problem !== undefined) throw new Error(problem);
  let file: string;
  try {
    file = nodeGypBuild.path(PACKAGE_ROOT);
  } catch {
    throw new Error(
      `no conntrack addon for ${process.platform}-${process.arch} in ${PACKAGE_ROOT}; ${BUILD_HINT}`,
    );
  }
  try {
    // A compiled addon can only be loaded through require().
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(file) as NativeAddon;
  } catch (error) {
    throw new Error(addonLoadError(file, (error as Error).message));
  }
  return loaded;
}
