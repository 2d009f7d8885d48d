import net from 'node:net';
import { formatHostPort, type HostPort } from './address';
import type { Logger } from '../log';
import { LogThrottle } from './log-throttle';
import { ReadBuffers } from './read-buffers';
import { Relay, type RelayContext } from './relay';
import type { DialFailureReason, ProxyTraffic } from './traffic';

export interface TcpProxyOptions {
  target: HostPort;
  dialTimeoutMs: number;
  traffic: ProxyTraffic;
  log: Logger;
  countBytes?: boolean;
  adoptSockets?: boolean;
  largeReadBytes?: number;
}

const LOG_INTERVAL_MS = 10_000;

/** Accepts connections and relays each to the target; knows which are still open. */
export class TcpProxy {
  private readonly server: net.Server;
  private readonly relays = new Set<Relay>();
  private readonly context: RelayContext;
  private idleWaiters: Array<() => void> = [];
  private readonly dialLog = new LogThrottle(LOG_INTERVAL_MS);
  private readonly acceptLog = new LogThrottle(LOG_INTERVAL_MS);

  constructor(options: TcpProxyOptions) {
    const { log, target } = options;
    this.context = {
      target,
      dialTimeoutMs: options.dialTimeoutMs,
      traffic: options.traffic,
      buffers: new ReadBuffers(options.largeReadBytes),
      countBytes: options.countBytes ?? true,
      adoptSockets: options.adoptSockets ?? true,
      onDialFailure: (reason: DialFailureReason, error: Error) => {
        const suppressed = this.dialLog.admit();
        if (suppressed === undefined) return;
        const more = suppressed > 0 ? ` (${suppressed} more since the last report)` : '';
        log.warn(
          `cannot connect to target ${formatHostPort(target)} (${reason}: ${error.message}); ` +
            `client reset${more}`,
        );
      },
      onFinished: (relay: Relay) => {
        this.relays.delete(relay);
        if (this.relays.size === 0) this.notifyIdle();
      },
    };
    this.server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
    this.server.on('connection', (socket: net.Socket) => {
      this.relays.add(new Relay(socket, this.context));
    });
    this.server.on('error', (error: Error) => {
      // Errors while listening are the listen() caller's; later ones come
      // from accept (such as EMFILE) and must not end the proxy.
      if (!this.server.listening) return;
      const suppressed = this.acceptLog.admit();
      if (suppressed !== undefined) log.warn(`accepting a connection failed: ${error.message}`);
    });
  }

  /** Binds the listening socket; rejects with the system error (EADDRINUSE, …). */
  listen(address: HostPort): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(
        { host: address.host === '' ? undefined : address.host, port: address.port },
        () => {
          this.server.off('error', reject);
          resolve(this.server.address() as net.AddressInfo);
        },
      );
    });
  }

  /** Closes the listening socket: new connections are refused, open ones go on. */
  stopAccepting(): void {
    this.server.close();
  }

  get openConnections(): number {
    return this.relays.size;
  }

  /** Resolves once no connection is open (at once if none is). */
  whenIdle(): Promise<void> {
    if (this.relays.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  resetAll(): void {
    for (const relay of this.relays) relay.reset();
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
