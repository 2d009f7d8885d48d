import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type { TLSSocket } from 'node:tls';

import { EnvironmentError, UsageError } from '../errors';
import { BasicAuth, CheckBudget } from './basic-auth';
import { clientAddress, limitConnectionsPerClient } from './client-connections';
import { landingPage } from './landing';
import { answerUnsupportedMethods } from './methods';
import { applyLimits, DEFAULT_LIMITS, RateLimiter, RequestLimits, serverOptions } from './limits';
import { acceptsGzip, SharedRender } from './shared-render';
import { clientCertificateProblem, nodeTlsOptions } from './tls-options';
import { WebConfig } from './web-config';

export type MetricsServer = http.Server | https.Server;

/** What the metrics path serves: a prom-client Registry, or the exporter's Exposition. */
export interface MetricsSource {
  /** The text, or the text already encoded in UTF-8. */
  metrics(): Promise<string | Buffer>;
  /** Takes back a body `metrics()` gave once no response reads it any more. */
  recycle?(body: Buffer): void;
  readonly contentType: string;
}

export interface MetricsServerOptions {
  registry: MetricsSource;
  /** Path of the metrics, e.g. "/metrics". */
  path: string;
  /** Serve the metrics on every path, `path` only naming it on the landing page. */
  everyPath?: boolean;
  title: string;
  /** Shown on the landing page: the settings in force. */
  settings?: Record<string, unknown>;
  onError?: (error: Error) => void;
  /** TLS, basic auth, headers and rate limit (--web.config.file); none: plain HTTP, open. */
  web?: WebConfig;
  /** Tests shorten these; the defaults suit production. */
  limits?: Partial<RequestLimits>;
  /** Serve a landing page on "/" (the default); without it "/" is 404 like any other path. */
  landing?: boolean;
  /** bcrypt work for credentials not verified yet (see BasicAuth); tests change it. */
  checkBudget?: CheckBudget;
  /** How a body is gzipped (default: gzipBody); the exporter times it. */
  compress?: (body: Buffer) => Buffer;
}

/** What a reload of the web config replaces; read anew by every request. */
interface WebState {
  web?: WebConfig;
  auth: BasicAuth;
  /** With basic auth, for requests with verified credentials only. */
  rateLimiter?: RateLimiter;
  /** With basic auth, the same limit again for all other requests, which cannot spend the first. */
  unverifiedRateLimiter?: RateLimiter;
}

const endpoints = new WeakMap<
  MetricsServer,
  { state: WebState; webState(web: WebConfig): WebState }
>();

const TEXT = 'text/plain; charset=utf-8';

/**
 * The HTTP(S) endpoint: GET/HEAD on the metrics path serves the registry in
 * the Prometheus text format (gzipped when asked), "/" a landing page,
 * anything else 404 (405 for a method other than GET/HEAD on a known path).
 * Before that: the web config's headers, the concurrency cap (503), the
 * rate limit (429), basic auth (401, or 503 when too many passwords wait
 * for bcrypt); request bodies are refused (413). Connections: at most
 * maxConnectionsPerClient per client address.
 */
export function createMetricsServer(options: MetricsServerOptions): MetricsServer {
  const { registry, path } = options;
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const landing = () => landingPage(options.title, path, options.settings ?? {});
  const render = new SharedRender(
    () => registry.metrics(),
    registry.recycle?.bind(registry),
    options.compress,
  );
  const state = (web: WebConfig | undefined) => webState(web, options.checkBudget);
  const endpoint = { state: state(options.web), webState: state };
  let active = 0;

  const handle = async (request: http.IncomingMessage, response: http.ServerResponse) => {
    const { web, auth, rateLimiter, unverifiedRateLimiter } = endpoint.state;
    for (const [name, value] of Object.entries(web?.headers ?? {})) {
      response.setHeader(name, value);
    }
    if (active >= limits.maxConcurrentRequests) {
      response.setHeader('Retry-After', '1');
      refuse(response, 503, 'Too many concurrent requests');
      return;
    }
    active++;
    response.once('close', () => active--);
    const { authorization } = request.headers;
    const verified = !auth.enabled || auth.verified(authorization);
    const limiter = verified ? rateLimiter : unverifiedRateLimiter;
    if (limiter !== undefined && !limiter.take()) {
      refuse(response, 429, 'Too Many Requests');
      return;
    }
    if (!verified) {
      const result = await auth.check(authorization, clientAddress(request.socket));
      if (result === 'busy') {
        response.setHeader('Retry-After', '1');
        refuse(response, 503, 'Too many password checks under way');
        return;
      }
      if (result === 'denied') {
        response.setHeader('WWW-Authenticate', 'Basic realm="conntrack-exporter", charset="UTF-8"');
        send(response, 401, TEXT, 'Unauthorized\n');
        return;
      }
    }
    const target = (request.url ?? '/').split('?')[0];
    const isLanding = target === '/' && options.landing !== false;
    if (target !== path && !isLanding && !options.everyPath) {
      send(response, 404, TEXT, 'Not Found\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('Allow', 'GET, HEAD');
      refuse(response, 405, 'Method Not Allowed');
      return;
    }
    if (hasBody(request)) {
      refuse(response, 413, 'A request body is not accepted');
      return;
    }
    const headOnly = request.method === 'HEAD';
    if (isLanding) {
      send(response, 200, 'text/html; charset=utf-8', landing(), headOnly);
      return;
    }
    let rendered;
    try {
      rendered = await render.get();
    } catch (error) {
      options.onError?.(error as Error);
      send(response, 500, TEXT, `Error collecting metrics: ${(error as Error).message}\n`);
      return;
    }
    // Once the response is over (sent, or the client gone), this request no
    // longer reads the body; see SharedRender.
    const taken = rendered;
    if (response.destroyed) taken.release();
    else response.once('close', () => taken.release());
    response.setHeader('Vary', 'Accept-Encoding');
    if (acceptsGzip(request.headers['accept-encoding'])) {
      response.setHeader('Content-Encoding', 'gzip');
      send(response, 200, registry.contentType, rendered.gzipped(), headOnly);
    } else {
      send(response, 200, registry.contentType, rendered.body, headOnly);
    }
  };

  const listener = (request: http.IncomingMessage, response: http.ServerResponse) => {
    handle(request, response).catch((error: Error) => {
      options.onError?.(error);
      if (!response.headersSent) send(response, 500, TEXT, 'Internal Server Error\n');
      else response.destroy();
    });
  };
  const tls = options.web?.tls;
  const server: MetricsServer =
    tls === undefined
      ? http.createServer(serverOptions(limits), listener)
      : https.createServer(
          {
            ...serverOptions(limits),
            ...nodeTlsOptions(tls),
            handshakeTimeout: limits.handshakeTimeoutMs,
          },
          listener,
        );
  if (tls !== undefined) {
    server.on('secureConnection', (socket: TLSSocket) => {
      const current = endpoint.state.web?.tls;
      // Before any byte of a request is read: the HTTP parser reads later.
      if (current !== undefined && clientCertificateProblem(socket, current) !== undefined) {
        socket.destroy();
      }
    });
  }
  applyLimits(server, limits);
  limitConnectionsPerClient(
    server,
    () => endpoint.state.web?.maxConnectionsPerClient ?? limits.maxConnectionsPerClient,
  );
  answerUnsupportedMethods(server);
  endpoints.set(server, endpoint);
  return server;
}

/**
 * Puts a re-read web config in force for the next requests and handshakes
 * (new certificates, users, headers). Switching TLS on or off, or changing
 * client_auth_type, needs a new server: that is refused, and the old
 * config stays.
 */
export function reloadWebConfig(server: MetricsServer, web: WebConfig): WebConfig | undefined {
  const endpoint = endpoints.get(server);
  if (endpoint === undefined) throw new Error('not a metrics server');
  const before = endpoint.state.web?.tls;
  if ((before === undefined) !== (web.tls === undefined)) {
    throw new UsageError(`${web.file}: switching TLS on or off needs a restart`);
  }
  if (before !== undefined && web.tls !== undefined) {
    if (before.clientAuth !== web.tls.clientAuth) {
      throw new UsageError(`${web.file}: a change of client_auth_type needs a restart`);
    }
    (server as https.Server).setSecureContext(nodeTlsOptions(web.tls));
  }
  const previous = endpoint.state.web;
  endpoint.state = endpoint.webState(web);
  return previous;
}

function webState(web: WebConfig | undefined, budget: CheckBudget | undefined): WebState {
  const limit = web?.rateLimit;
  const auth = new BasicAuth(web?.users ?? new Map(), budget);
  return {
    web,
    auth,
    rateLimiter: limit && new RateLimiter(limit.intervalMs, limit.burst),
    unverifiedRateLimiter:
      limit && auth.enabled ? new RateLimiter(limit.intervalMs, limit.burst) : undefined,
  };
}

function hasBody(request: http.IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return (
    request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
  );
}

/** An error answer after which the connection is closed, so an unread body is never read. */
function refuse(response: http.ServerResponse, status: number, message: string): void {
  response.setHeader('Connection', 'close');
  send(response, status, TEXT, `${message}\n`);
}

function send(
  response: http.ServerResponse,
  status: number,
  contentType: string,
  body: string | Buffer,
  headOnly = false,
): void {
  if (response.destroyed) return;
  response.statusCode = status;
  response.setHeader('Content-Type', contentType);
  response.setHeader('Content-Length', Buffer.byteLength(body));
  response.end(headOnly ? undefined : body);
}

/** The bind address meaning every address, IPv6 and IPv4 on one socket. */
export const ALL_ADDRESSES = '::';

/**
 * Starts listening; the errors a user can cause (busy port, address not on
 * this host, privileged port) become one clear line. Errors after that
 * (e.g. EMFILE on accept) go to `onError` instead of ending the process.
 */
export function listen(
  server: net.Server,
  port: number,
  host: string,
  flag = '--listen-port',
  onError: (error: Error) => void = () => undefined,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const onListenError = (error: NodeJS.ErrnoException) => {
      const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
      switch (error.code) {
        case 'EADDRINUSE':
          reject(
            new EnvironmentError(
              `${where} is already in use; stop the other process or choose another port with ${flag}`,
            ),
          );
          break;
        case 'EADDRNOTAVAIL':
          reject(
            new EnvironmentError(
              `cannot listen on ${where}: the address is not on this host; choose another bind address`,
            ),
          );
          break;
        case 'EACCES':
          reject(
            new EnvironmentError(
              `cannot listen on ${where}: permission denied; use a port above 1023 or grant CAP_NET_BIND_SERVICE`,
            ),
          );
          break;
        default:
          reject(new EnvironmentError(`cannot listen on ${where}: ${error.message}`));
      }
    };
    server.once('error', onListenError);
    // Without a host Node binds '::' with IPV6_V6ONLY off (IPv4 too, as Go's
    // ':port' does), and '0.0.0.0' where the kernel has no IPv6 at all.
    server.listen(port, host === ALL_ADDRESSES ? undefined : host, () => {
      server.off('error', onListenError);
      server.on('error', onError);
      resolve();
    });
  });
}
