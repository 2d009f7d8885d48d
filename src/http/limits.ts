import type http from 'node:http';
import type https from 'node:https';

/**
 * What one client may hold of the server. Prometheus sends its request at
 * once on a fresh or kept-alive connection and reads the answer at once, so
 * anything slower than these bounds is a broken or hostile client.
 */
export interface RequestLimits {
  /** Requests being answered at once; more get 503 at once instead of queueing. */
  maxConcurrentRequests: number;
  /** Open connections, idle ones included; more are closed on accept. */
  maxConnections: number;
  /** Open connections of one client address; more are closed on accept. The web config may set it. */
  maxConnectionsPerClient: number;
  /** From connection (or end of the previous request) to the end of the headers: slowloris. */
  headersTimeoutMs: number;
  /** From connection to the end of the whole request. */
  requestTimeoutMs: number;
  /** A kept-alive connection with no request. */
  keepAliveTimeoutMs: number;
  /** Any connection with no traffic either way, e.g. a client that stopped reading. */
  idleTimeoutMs: number;
  /** The TLS handshake. */
  handshakeTimeoutMs: number;
  /** Request line and headers together. */
  maxHeaderBytes: number;
  /** How often Node looks for connections past headersTimeoutMs or requestTimeoutMs. */
  checkIntervalMs: number;
}

export const DEFAULT_LIMITS: Readonly<RequestLimits> = {
  // exporter-toolkit's --web.max-requests is 40; concurrent scrapes share
  // one render here, so a few more cost little.
  maxConcurrentRequests: 64,
  maxConnections: 1024,
  // A Prometheus server holds one connection per target; a few servers or
  // a proxy in front hold a few. One address cannot take more than this of
  // the 1024.
  maxConnectionsPerClient: 32,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  // Prometheus keeps its connection to a target between scrapes (it closes
  // it after 5 minutes idle). Closed after Node's default of 5 s, every
  // scrape at the usual 15 s to 1 m intervals came on a new connection (and
  // a new TLS handshake), which cost more CPU than the scrape itself
  // (BENCHMARKS.md). 75 s keeps it across a 1 m interval and its jitter.
  keepAliveTimeoutMs: 75_000,
  // Above any sane scrape duration: the socket is quiet while the table is read.
  idleTimeoutMs: 60_000,
  handshakeTimeoutMs: 10_000,
  maxHeaderBytes: 8192,
  checkIntervalMs: 1_000,
};

/** The options that must be given when the server is created. */
export function serverOptions(limits: RequestLimits): http.ServerOptions {
  return {
    maxHeaderSize: limits.maxHeaderBytes,
    connectionsCheckingInterval: limits.checkIntervalMs,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
  };
}

/** The limits that are properties of a created server. */
export function applyLimits(server: http.Server | https.Server, limits: RequestLimits): void {
  server.maxConnections = limits.maxConnections;
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  // Without a 'timeout' listener, Node destroys a socket idle this long.
  server.timeout = limits.idleTimeoutMs;
}

/**
 * exporter-toolkit's rate_limit: a token bucket holding `burst` requests,
 * refilled by one every `intervalMs`.
 */
export class RateLimiter {
  private tokens: number;
  private last: number;

  constructor(
    private readonly intervalMs: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes one request's token; false when none is left. */
  take(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) / this.intervalMs);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
