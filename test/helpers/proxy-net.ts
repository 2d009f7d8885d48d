/**
 * Loopback servers, clients and byte checks for the proxy's tests. Every
 * wait is bounded, and everything started is closed by the test's `after`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { TestContext } from 'node:test';

export const WAIT_MS = 20_000;
export const DIST = path.join(__dirname, '..', '..', 'dist');
/** The built `conntrack-exporter`, whose `proxy` command the tests run. */
export const CLI = path.join(DIST, 'cli.js');
/** The start-up line of a proxy listening on 127.0.0.1: its port and metrics URL. */
const STARTED = /proxying 127\.0\.0\.1:(\d+) to .*; metrics on (http:\S+)/;

/** Rejects after `ms` with what was being waited for. */
export function within<T>(
  promise: Promise<T>,
  what: string | (() => string),
  ms = WAIT_MS,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    const describe = typeof what === 'string' ? () => what : what;
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${describe()}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export { randomBytes };

/** A TCP server on 127.0.0.1 with an OS-chosen port, closed (with its sockets) after the test. */
export async function startServer(
  t: TestContext,
  onConnection: (socket: net.Socket) => void,
  options: net.ServerOpts = {},
): Promise<{ server: net.Server; port: number }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true, ...options }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onConnection(socket);
  });
  server.listen(0, '127.0.0.1');
  await within(once(server, 'listening'), 'a test server to listen');
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { server, port: (server.address() as net.AddressInfo).port };
}

/** A target that echoes everything back and ends when the client ends. */
export async function echoTarget(t: TestContext, onArrival?: () => void): Promise<number> {
  const { port } = await startServer(t, (socket) => {
    onArrival?.();
    socket.pipe(socket);
  });
  return port;
}

/** A port nothing listens on (bound then released). */
export async function unusedPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A connected client, destroyed after the test. */
export async function connect(t: TestContext, port: number): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  t.after(() => socket.destroy());
  await within(once(socket, 'connect'), `a connection to port ${port}`);
  return socket;
}

/** Everything the socket delivers until its FIN; rejects on error (e.g. a reset). */
export function readAll(socket: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('the socket closed without a FIN')));
  });
}

/** Writes `data` in pieces, honouring back-pressure, then sends FIN unless told not to. */
export async function writeAll(
  socket: net.Socket,
  data: Buffer,
  { end = true, piece = 64 * 1024 } = {},
): Promise<void> {
  for (let offset = 0; offset < data.length; offset += piece) {
    if (!socket.write(data.subarray(offset, offset + piece))) {
      await within(
        Promise.race([
          once(socket, 'drain'),
          once(socket, 'close').then(() =>
            Promise.reject(new Error('socket closed while writing')),
          ),
        ]),
        'the socket to drain',
      );
    }
  }
  if (end) socket.end();
}

/** How a socket ended: 'reset' for ECONNRESET/EPIPE, 'end' for a FIN, 'close' otherwise. */
export function howItEnds(socket: net.Socket): Promise<'reset' | 'end' | 'close'> {
  return new Promise((resolve) => {
    socket.once('error', (error: NodeJS.ErrnoException) => {
      resolve(error.code === 'ECONNRESET' || error.code === 'EPIPE' ? 'reset' : 'close');
    });
    socket.once('end', () => resolve('end'));
    socket.once('close', () => resolve('close'));
    socket.resume();
  });
}

export async function httpGet(
  url: string,
  method = 'GET',
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return within(
    new Promise((resolve, reject) => {
      const request = http.request(url, { method }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body, headers: response.headers }),
        );
      });
      request.on('error', reject);
      request.end();
    }),
    `${method} ${url}`,
  );
}

/** Prometheus text to 'name{labels}' -> value (labels as written). */
export function parseMetrics(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    series.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return series;
}

export interface ProxyProcess {
  readonly child: ChildProcess;
  stderr(): string;
  /** Resolves when stderr matches, with the match; rejects if the process exits first. */
  waitForLog(pattern: RegExp): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs `node <script> ...args`, killed after the test if still running;
 * `under` is a command that runs node (e.g. strace and its flags).
 */
export function spawnNode(
  t: TestContext,
  script: string,
  args: readonly string[],
  under: readonly string[] = [],
): ProxyProcess {
  const [command = process.execPath, ...prefix] = [...under, process.execPath];
  const child = spawn(command, [...prefix, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
    for (const listener of listeners) listener();
  });
  child.stdout.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return {
    child,
    stderr: () => stderr,
    exited,
    waitForLog: (pattern) =>
      within(
        new Promise<RegExpMatchArray>((resolve, reject) => {
          const check = (): void => {
            const match = pattern.exec(stderr);
            if (match === null) return;
            listeners.delete(check);
            resolve(match);
          };
          listeners.add(check);
          check();
          void exited.then(() => {
            listeners.delete(check);
            reject(new Error(`exited before logging ${pattern}: ${stderr}`));
          });
        }),
        () => `a log line matching ${pattern}; stderr so far: ${stderr}`,
      ),
  };
}

/**
 * A listener whose accept queue is full never answers a SYN: the way to
 * make a dial time out on loopback. Python, because Node always accepts.
 * Returns its port and a stop; for tests without a TestContext.
 */
export async function startUnansweringPort(): Promise<{ port: number; stop(): void }> {
  const script = [
    'import socket, sys',
    's = socket.socket()',
    "s.bind(('127.0.0.1', 0))",
    's.listen(0)',
    'print(s.getsockname()[1], flush=True)',
    'sys.stdin.read()',
  ].join('\n');
  const child = spawn('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let line: Buffer;
  try {
    [line] = (await within(once(child.stdout, 'data'), 'the python listener')) as [Buffer];
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const port = Number(line.toString().trim());
  // Fill the queue of one (backlog 0) and then some; these never get accepted.
  const fillers = Array.from({ length: 2 }, () => {
    const filler = net.connect({ host: '127.0.0.1', port });
    filler.on('error', () => {});
    return filler;
  });
  return {
    port,
    stop: () => {
      for (const filler of fillers) filler.destroy();
      child.kill('SIGKILL');
    },
  };
}

/** startUnansweringPort, stopped when the test ends. */
export async function unansweringPort(t: TestContext): Promise<number> {
  const { port, stop } = await startUnansweringPort();
  t.after(stop);
  return port;
}

/** `conntrack-exporter proxy` from 127.0.0.1 (a free port) to `targetPort`, metrics on a free port. */
export function proxyArgs(targetPort: number, extra: readonly string[] = []): string[] {
  return [
    ...['proxy', '--listen', '127.0.0.1:0', '--target', `127.0.0.1:${targetPort}`],
    ...['--metrics', '127.0.0.1:0', ...extra],
  ];
}

export interface RunningProxy extends ProxyProcess {
  port: number;
  metricsUrl: string;
  scrape(): Promise<Map<string, number>>;
}

/** Starts a proxy (see spawnNode) and waits until it listens; its port and metrics come from its start-up line. */
export async function startProxy(
  t: TestContext,
  script: string,
  args: readonly string[],
  under: readonly string[] = [],
): Promise<RunningProxy> {
  const proxy = spawnNode(t, script, args, under);
  const [, port, metricsUrl = ''] = await proxy.waitForLog(STARTED);
  return {
    ...proxy,
    port: Number(port),
    metricsUrl,
    scrape: async () => parseMetrics((await httpGet(metricsUrl)).body),
  };
}

/** Scrapes until `ready` holds for the series, and returns them; bounded. */
export async function scrapeUntil(
  proxy: RunningProxy,
  ready: (series: Map<string, number>) => boolean,
): Promise<Map<string, number>> {
  let last = new Map<string, number>();
  await within(
    (async () => {
      for (;;) {
        last = await proxy.scrape();
        if (ready(last)) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })(),
    () => `metrics to settle; last scrape: ${JSON.stringify([...last])}`,
  );
  return last;
}
