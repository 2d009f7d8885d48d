import http from 'node:http';
import type net from 'node:net';
import type { Registry } from './prom-client';
import type { HostPort } from './address';

/** What the metrics server reports about itself (names differ per flavour). */
export interface ScrapeInstruments {
  started(): void;
  finished(statusCode: number): void;
}

export interface MetricsServerOptions {
  address: HostPort;
  path: string;
  registry: Registry;
  instruments: ScrapeInstruments;
}

/**
 * Serves the registry on GET and HEAD of one path; 404 elsewhere, 405 for
 * other methods. Rejects with the system error when it cannot bind.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<http.Server> {
  const { registry, instruments, path } = options;
  const server = http.createServer((request, response) => {
    instruments.started();
    response.on('close', () => instruments.finished(response.statusCode));
    const requestPath = (request.url ?? '/').split('?', 1)[0];
    if (requestPath !== path) {
      sendText(response, 404, 'Not Found\n');
    } else if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('Allow', 'GET, HEAD');
      sendText(response, 405, 'Method Not Allowed\n');
    } else {
      registry.metrics().then(
        (body) => {
          response.writeHead(200, { 'Content-Type': registry.contentType });
          response.end(request.method === 'HEAD' ? undefined : body);
        },
        (error: unknown) => sendText(response, 500, `error collecting metrics: ${String(error)}\n`),
      );
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const host = options.address.host === '' ? undefined : options.address.host;
    server.listen({ host, port: options.address.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

function sendText(response: http.ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  response.end(text);
}

export function serverAddress(server: http.Server): net.AddressInfo {
  return server.address() as net.AddressInfo;
}

/** Stops the server and the scrapes still connected to it. */
export function closeMetricsServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
