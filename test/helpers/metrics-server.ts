/**
 * The HTTP endpoint (src/http/server.ts) on a free loopback port, for the
 * tests that talk to it in-process; it closes with its connections when the
 * test ends.
 */
import { AddressInfo } from 'node:net';
import type net from 'node:net';
import type { TestContext } from 'node:test';

import { Gauge, Registry } from 'prom-client';

import {
  createMetricsServer,
  listen,
  MetricsServer,
  MetricsServerOptions,
} from '../../src/http/server';

export interface ServedMetrics {
  server: MetricsServer;
  port: number;
  /** http://127.0.0.1:<port> */
  base: string;
}

/** Serves `/metrics` (by default one gauge, example_value 3) with the options given. */
export async function serveMetrics(
  t: TestContext,
  options: Partial<MetricsServerOptions> = {},
): Promise<ServedMetrics> {
  const server = createMetricsServer({
    registry: exampleRegistry(),
    path: '/metrics',
    title: 't',
    ...options,
  });
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  await listen(server, 0, '127.0.0.1');
  const { port } = server.address() as AddressInfo;
  return { server, port, base: `http://127.0.0.1:${port}` };
}

/** A registry with one gauge: example_value 3. */
export function exampleRegistry(): Registry {
  const registry = new Registry();
  new Gauge({ name: 'example_value', help: 'An example.', registers: [registry] }).set(3);
  return registry;
}

/** The Authorization header of HTTP basic auth. */
export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/**
 * How many connections from a client address the server holds. A socket is
 * forgotten once its 'close' has reached every listener the server set up
 * before this was called, so the server's own bookkeeping is done by then.
 */
export function connectionsFrom(server: MetricsServer): (address: string) => number {
  const open = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  return (address) => [...open].filter((socket) => socket.remoteAddress === address).length;
}
