import type net from 'node:net';

import { createMetricsServer, type MetricsServer } from '../http/server';
import type { WebConfig } from '../http/web-config';
import type { HostPort } from './address';
import type { Registry } from './prom-client';

/** What the metrics server reports about itself (names differ per flavour). */
export interface ScrapeInstruments {
  started(): void;
  finished(statusCode: number): void;
}

export interface MetricsServerOptions {
  address: HostPort;
  /** Undefined: every path. */
  path: string | undefined;
  registry: Registry;
  instruments: ScrapeInstruments;
  /** TLS, basic auth, headers, rate limit (--web.config.file); none: plain HTTP, open. */
  web?: WebConfig;
  onError?: (error: Error) => void;
}

/**
 * Serves the registry on GET and HEAD of one path (or of every path); 404 elsewhere, 405 for
 * other methods. It is the exporter's server (src/http/server.ts), with the
 * same limits and web config, and no landing page. Rejects with the system
 * error when it cannot bind.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { instruments } = options;
  const server = createMetricsServer({
    registry: options.registry,
    path: options.path ?? '/',
    everyPath: options.path === undefined,
    title: 'conntrack-exporter proxy',
    landing: false,
    web: options.web,
    onError: options.onError,
  });
  server.on('request', (_request, response) => {
    instruments.started();
    response.on('close', () => instruments.finished(response.statusCode));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const host = options.address.host === '' ? undefined : options.address.host;
    server.listen({ host, port: options.address.port }, () => {
      server.off('error', reject);
      if (options.onError) server.on('error', options.onError);
      resolve();
    });
  });
  return server;
}

export function serverAddress(server: MetricsServer): net.AddressInfo {
  return server.address() as net.AddressInfo;
}

/** Stops the server and the scrapes still connected to it. */
export function closeMetricsServer(server: MetricsServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
