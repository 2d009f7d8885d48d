/**
 * Runs the built exporter inside a test namespace and scrapes it from there,
 * as Prometheus on that host would.
 */
import { once } from 'node:events';
import path from 'node:path';

import type { ChildProcess } from 'node:child_process';
import type { Namespace } from './netns';

export const CLI = path.join(__dirname, '..', '..', 'dist', 'cli.js');
const START_TIMEOUT_MS = 15_000;

export interface ExporterProcess {
  readonly process: ChildProcess;
  readonly url: string;
  /** Everything the exporter wrote to stderr so far. */
  stderr(): string;
  /** The body of GET <path> (default: /metrics), fetched inside the namespace. */
  scrape(pathname?: string): Promise<string>;
  /** The scrape parsed into series -> value (see seriesKey). */
  metrics(): Promise<Map<string, number>>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `node dist/cli.js --listen-port <port> ...args` in `ns` and waits
 * until it serves; rejects with its stderr if it exits first.
 */
export async function startExporter(
  ns: Namespace,
  args: readonly string[],
  {
    port = 9318,
    program = CLI,
    launcher = [],
    listenArgs = ['--listen-port', String(port)],
    env,
    startTimeoutMs = START_TIMEOUT_MS,
  }: {
    port?: number;
    program?: string;
    /** A command the exporter is started through, e.g. setpriv with its options. */
    launcher?: readonly string[];
    /** How the program is told its port; the drop-ins take other flags. */
    listenArgs?: readonly string[];
    /** Extra environment variables. */
    env?: Record<string, string>;
    /** Reading a table of a million entries at start takes longer than the default. */
    startTimeoutMs?: number;
  } = {},
): Promise<ExporterProcess> {
  const child = ns.spawn([...launcher, process.execPath, program, ...listenArgs, ...args], {
    env: { ...process.env, ...env },
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => (stderr += chunk));
  child.stdout?.resume();
  const exited = once(child, 'exit');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`exporter did not start in time: ${stderr}`)),
      startTimeoutMs,
    );
    const check = () => {
      if (/serving metrics on/.test(stderr)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stderr?.on('data', check);
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new Error(`exporter exited with ${String(code)} before serving: ${stderr}`));
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const scrape = async (pathname = '/metrics') => {
    const result = await ns.exec([
      'curl',
      '-sS',
      '--fail',
      '--max-time',
      '20',
      `${url}${pathname}`,
    ]);
    if (result.code !== 0) throw new Error(`scrape failed (${result.code}): ${result.stderr}`);
    return result.stdout;
  };
  return {
    process: child,
    url,
    stderr: () => stderr,
    scrape,
    metrics: async () => parseExposition(await scrape()),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}

/** `name{a="1",b="2"}` with labels sorted, so tests can write expected series plainly. */
export function seriesKey(name: string, labels: Record<string, string> = {}): string {
  const pairs = Object.keys(labels)
    .sort()
    .map((key) => `${key}="${labels[key]}"`);
  return pairs.length === 0 ? name : `${name}{${pairs.join(',')}}`;
}

/** Parses the Prometheus text format (as this exporter writes it) into series -> value. */
export function parseExposition(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]!] = pair[2]!;
    }
    series.set(seriesKey(match[1]!, labels), Number(match[3]));
  }
  return series;
}

/** Only the series whose metric name matches. */
export function pick(series: Map<string, number>, name: RegExp): Map<string, number> {
  return new Map([...series].filter(([key]) => name.test(key.split('{')[0]!)));
}

/** The sum of every sample of the metrics whose name matches. */
export function sumOf(series: Map<string, number>, name: RegExp): number {
  let sum = 0;
  for (const value of pick(series, name).values()) sum += value;
  return sum;
}

/** The open outbound connections a scrape shows to one remote service. */
export function openOutbound(series: Map<string, number>, host: string, port: number): number {
  const key = seriesKey('conntrack_open_connections', {
    host,
    port: String(port),
    direction: 'outbound',
  });
  return series.get(key) ?? 0;
}
