/** What the benchmark compares: no proxy, haproxy, socat, a bare Node proxy and ours. */
import { writeFileSync } from 'node:fs';
import { waitForPort } from './measure';
import { startProcess, type Subprocess } from './processes';

export interface Subject {
  readonly name: string;
  /** Starts a proxy from listenPort to targetPort; undefined for "direct" (no process). */
  start(listenPort: number, targetPort: number): Promise<Subprocess | undefined>;
}

const TSX = ['--import', 'tsx'];

function haproxyConfig(listenPort: number, targetPort: number): string {
  const path = `.bench/haproxy-${listenPort}.cfg`;
  // Debian's defaults otherwise; maxconn raised for the 1,000 idle connections.
  const config = [
    'global',
    '  maxconn 4096',
    'defaults',
    '  mode tcp',
    '  timeout connect 10s',
    '  timeout client 1h',
    '  timeout server 1h',
    'listen bench',
    `  bind 127.0.0.1:${listenPort}`,
    `  server target 127.0.0.1:${targetPort}`,
    '',
  ].join('\n');
  writeFileSync(path, config);
  return path;
}

async function listening(process: Subprocess, port: number): Promise<Subprocess> {
  await waitForPort(port);
  return process;
}

export const DIRECT: Subject = { name: 'direct', start: async () => undefined };

export const HAPROXY: Subject = {
  name: 'haproxy',
  start: async (listenPort, targetPort) =>
    listening(
      await startProcess('haproxy', ['-db', '-f', haproxyConfig(listenPort, targetPort)]),
      listenPort,
    ),
};

export const SOCAT: Subject = {
  name: 'socat',
  start: async (listenPort, targetPort) =>
    listening(
      await startProcess('socat', [
        `TCP-LISTEN:${listenPort},bind=127.0.0.1,fork,reuseaddr,backlog=1024`,
        `TCP:127.0.0.1:${targetPort}`,
      ]),
      listenPort,
    ),
};

export const NODE_PIPE: Subject = {
  name: 'node pipe()',
  start: (listenPort, targetPort) =>
    startProcess(
      process.execPath,
      [...TSX, 'bench/proxy/pipe-proxy.ts', String(listenPort), String(targetPort)],
      /ready/,
    ),
};

/** Our relay core alone, with or without its byte counters. */
function core(name: string, counting: boolean): Subject {
  return {
    name,
    start: (listenPort, targetPort) =>
      startProcess(
        process.execPath,
        [
          ...TSX,
          'bench/proxy/core-proxy.ts',
          String(listenPort),
          String(targetPort),
          ...(counting ? [] : ['--no-count']),
        ],
        /ready/,
      ),
  };
}

export const CORE_COUNTED = core('ours, core', true);
export const CORE_UNCOUNTED = core('ours, core, no counters', false);

/** The real command, with its metrics server. */
export const OURS: Subject = {
  name: 'ours',
  start: (listenPort, targetPort) =>
    startProcess(
      process.execPath,
      [
        'dist/cli.js',
        'proxy',
        '--listen',
        `127.0.0.1:${listenPort}`,
        '--target',
        `127.0.0.1:${targetPort}`,
        '--metrics',
        '127.0.0.1:0',
      ],
      // The CLI logs to stderr; startProcess watches stdout, so wait for the port.
      undefined,
    ).then((process) => listening(process, listenPort)),
};

/** The drop-in: the Go flags and names on the same proxy, which both load without the exporter. */
export const DROP_IN: Subject = {
  name: 'tcp-metrics-proxy',
  start: (listenPort, targetPort) =>
    startProcess(
      process.execPath,
      [
        'dist/bin/tcp-metrics-proxy.js',
        `-listen=127.0.0.1:${listenPort}`,
        `-target=127.0.0.1:${targetPort}`,
        '-metrics=127.0.0.1:0',
      ],
      undefined,
    ).then((process) => listening(process, listenPort)),
};
