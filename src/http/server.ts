import http from 'node:http';

import { Registry } from 'prom-client';

import { EnvironmentError } from '../errors';
import { landingPage } from './landing';

export interface MetricsServerOptions {
  registry: Registry;
  /** Path of the metrics, e.g. "/metrics". */
  path: string;
  title: string;
  /** Shown on the landing page: the settings in force. */
  settings?: Record<string, unknown>;
  onError?: (error: Error) => void;
}

/**
 * The HTTP endpoint: GET/HEAD on the metrics path serves the registry in the
 * Prometheus text format, "/" a landing page, anything else 404 (405 for a
 * method other than GET/HEAD on a known path).
 */
export function createMetricsServer(options: MetricsServerOptions): http.Server {
  const { registry, path } = options;
  const landing = landingPage(options.title, path, options.settings ?? {});
  const server = http.createServer((request, response) => {
    const target = (request.url ?? '/').split('?')[0];
    if (target !== path && target !== '/') {
      send(response, 404, 'text/plain; charset=utf-8', 'Not Found\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('Allow', 'GET, HEAD');
      send(response, 405, 'text/plain; charset=utf-8', 'Method Not Allowed\n');
      return;
    }
    if (target === '/') {
      send(response, 200, 'text/html; charset=utf-8', landing, request.method === 'HEAD');
      return;
    }
    registry.metrics().then(
      (body) => send(response, 200, registry.contentType, body, request.method === 'HEAD'),
      (error: Error) => {
        options.onError?.(error);
        send(
          response,
          500,
          'text/plain; charset=utf-8',
          `Error collecting metrics: ${error.message}\n`,
        );
      },
    );
  });
  // Idle or slow clients must not hold sockets for long.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  return server;
}

function send(
  response: http.ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headOnly = false,
): void {
  response.statusCode = status;
  response.setHeader('Content-Type', contentType);
  response.setHeader('Content-Length', Buffer.byteLength(body));
  response.end(headOnly ? undefined : body);
}

/**
 * Starts listening; the errors a user can cause (busy port, address not on
 * this host, privileged port) become one clear line.
 */
export function listen(
  server: http.Server,
  port: number,
  host: string,
  flag = '--listen-port',
): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
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
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
