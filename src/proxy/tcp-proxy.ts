import dns from 'node:dns/promises';
import net from 'node:net';
import { loadRelay, type NativeTcpRelay } from './relay-addon';
import { formatHostPort, type HostPort } from './address';
import type { Logger } from '../log';
import { LogThrottle } from './log-throttle';
import { MAX_WORKERS } from '../options/proxy';
import { classifyDialError, type ProxyTraffic } from './traffic';

export interface TcpProxyOptions {
  target: HostPort;
  dialTimeoutMs: number;
  traffic: ProxyTraffic;
  log: Logger;
  /** Relay threads the connections are spread over; one if not given. */
  workers?: number;
  /** Off only to measure what counting costs (bench/proxy/core-proxy.ts). */
  countBytes?: boolean;
}

const LOG_INTERVAL_MS = 10_000;

/**
 * Accepts connections and relays each to the target; knows which are still
 * open. The data path is the addon's TcpRelay (native/relay/relay.h, typed in
 * relay-addon.ts): with a
 * net.Socket pair per connection, JS could not get past half haproxy's
 * connection rate. This class checks what it is given, resolves the listen
 * address, and turns the relay's reports into counts and log lines.
 */
export class TcpProxy {
  private readonly relay: NativeTcpRelay;
  private idleWaiters: Array<() => void> = [];
  private readonly dialLog = new LogThrottle(LOG_INTERVAL_MS);
  private readonly acceptLog = new LogThrottle(LOG_INTERVAL_MS);

  constructor(options: TcpProxyOptions) {
    const { log, target, traffic, dialTimeoutMs, workers = 1 } = options;
    if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
      throw new RangeError(`target port ${target.port} is out of range 1-65535`);
    }
    if (!Number.isInteger(dialTimeoutMs) || dialTimeoutMs <= 0) {
      throw new RangeError(`dial timeout ${dialTimeoutMs} ms must be a positive integer`);
    }
    if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
      throw new RangeError(`${workers} relay threads is out of range 1-${MAX_WORKERS}`);
    }
    this.relay = new (loadRelay().TcpRelay)(
      target.host,
      target.port,
      dialTimeoutMs,
      options.countBytes ?? true,
      workers,
      (code, message) => {
        const reason = classifyDialError(code);
        traffic.dialFailures[reason]++;
        const suppressed = this.dialLog.admit();
        if (suppressed === undefined) return;
        const more = suppressed > 0 ? ` (${suppressed} more since the last report)` : '';
        log.warn(
          `cannot connect to target ${formatHostPort(target)} (${reason}: ${message}); ` +
            `client reset${more}`,
        );
      },
      (_code, message) => {
        // Such as EMFILE: the relay pauses accepting briefly and goes on.
        const suppressed = this.acceptLog.admit();
        if (suppressed !== undefined) log.warn(`accepting a connection failed: ${message}`);
      },
      () => {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const resolve of waiters) resolve();
      },
    );
    const relay = this.relay;
    traffic.countFrom((into) => relay.readCounters(into));
  }

  /**
   * Binds the listening socket; rejects with the system error (EADDRINUSE,
   * ENOTFOUND for a name that does not resolve, ...). A name is resolved
   * here, to its first address, as net.Server.listen does.
   */
  async listen(address: HostPort): Promise<net.AddressInfo> {
    if (!Number.isInteger(address.port) || address.port < 0 || address.port > 65535) {
      throw new RangeError(`listen port ${address.port} is out of range 0-65535`);
    }
    const host =
      address.host === '' || net.isIP(address.host) !== 0
        ? address.host
        : (await dns.lookup(address.host)).address;
    return this.relay.listen(host, address.port);
  }

  /** Closes the listening socket: new connections are refused, open ones go on. */
  stopAccepting(): void {
    this.relay.stopAccepting();
  }

  get openConnections(): number {
    return this.relay.openConnections;
  }

  /**
   * Resolves once no connection is open, after every failure reported
   * before: even when none is open already, the relay is asked, since a
   * connection can end on a relay thread before its failure reaches JS.
   */
  whenIdle(): Promise<void> {
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.relay.notifyWhenIdle();
    return idle;
  }

  /** Cuts every connection with an RST, so neither side mistakes the cut for an orderly end. */
  resetAll(): void {
    this.relay.resetAll();
  }

  /** Stops everything at once (resets what is open) and frees the relay. */
  close(): void {
    this.relay.close();
  }
}
