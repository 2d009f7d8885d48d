import { loadNativeParts } from '../native-addon';
import { TRAFFIC_COUNTERS } from './traffic';

/**
 * The proxy's native data path (native/relay/relay.h): accepts, dials and
 * moves bytes without JS per connection. Checked and wrapped by
 * src/proxy/tcp-proxy.ts.
 */
export interface NativeTcpRelay {
  /** host: '' (every interface) or an IP literal. Throws the system error (EADDRINUSE, ...). */
  listen(host: string, port: number): { address: string; port: number; family: string };
  stopAccepting(): void;
  readonly openConnections: number;
  /** Calls onIdle once no connection is open (at once if none is). */
  notifyWhenIdle(): void;
  resetAll(): void;
  /** Writes the counts summed over the relay's threads, in counterNames order. */
  readCounters(into: Float64Array): void;
  close(): void;
}

export type NativeTcpRelayConstructor = new (
  targetHost: string,
  targetPort: number,
  dialTimeoutMs: number,
  countBytes: boolean,
  workers: number,
  onDialFailure: (code: string, message: string) => void,
  onAcceptError: (code: string, message: string) => void,
  onIdle: () => void,
) => NativeTcpRelay;

/** The addon's relay part (native/relay/init.cc). */
export interface NativeRelay {
  TcpRelay: NativeTcpRelayConstructor;
  /** The order of the counts that readCounters writes. */
  readonly counterNames: readonly string[];
  /** The most bytes one direction of a connection holds in the proxy. */
  readonly bufferBytes: number;
}

/** The relay part of the addon, checked to count what src/proxy/traffic.ts reads. */
export function loadRelay(): NativeRelay {
  const relay = loadNativeParts().relay as NativeRelay;
  if (relay.counterNames.join() !== TRAFFIC_COUNTERS.join()) {
    throw new Error(
      `the addon's relay counters (${relay.counterNames.join()}) do not match ` +
        `${TRAFFIC_COUNTERS.join()}; rebuild the addon ('npm rebuild conntrack-exporter')`,
    );
  }
  return relay;
}
