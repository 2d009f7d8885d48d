/**
 * What the events-mode end-to-end tests need beside the shared harness:
 * namespace settings, `conntrack -E` run beside the exporter, and the
 * expected gauges and counters worked out from `conntrack -L` and
 * `conntrack -E` independently of the exporter's own code (no NAT in these
 * tests, so the original tuple says it all).
 */
import assert from 'node:assert/strict';
import { createInterface } from 'node:readline';

import { pick, type ExporterProcess } from './exporter';
import { conntrackList, waitFor, WaitTimeoutError, type Namespace } from './netns';

/** Sets per-namespace sysctls (never the root namespace's). */
export async function setSysctls(ns: Namespace, settings: Record<string, string | number>) {
  for (const [key, value] of Object.entries(settings)) {
    const result = await ns.exec(['sysctl', '-q', '-w', `${key}=${value}`]);
    if (result.code !== 0) throw new Error(`sysctl ${key}: ${result.stderr}`);
  }
}

/**
 * Keeps TCP to and from `port` out of conntrack, so scrapes of the exporter
 * neither add entries nor send events: the table then holds only what a
 * test made, and can be compared with `conntrack -C` exactly.
 */
export async function untrackPort(ns: Namespace, port: number): Promise<void> {
  const result = await ns.exec([
    'nft',
    [
      'add table inet untracked',
      'add chain inet untracked pre { type filter hook prerouting priority raw; }',
      'add chain inet untracked out { type filter hook output priority raw; }',
      `add rule inet untracked pre tcp dport ${port} notrack`,
      `add rule inet untracked pre tcp sport ${port} notrack`,
      `add rule inet untracked out tcp dport ${port} notrack`,
      `add rule inet untracked out tcp sport ${port} notrack`,
    ].join('; '),
  ]);
  if (result.code !== 0) throw new Error(`nft: ${result.stderr}`);
}

export async function conntrackCount(ns: Namespace): Promise<number> {
  const result = await ns.exec(['conntrack', '-C']);
  if (result.code !== 0) throw new Error(`conntrack -C: ${result.stderr}`);
  return Number(result.stdout.trim());
}

/** `conntrack -E` running in `ns`; its lines, as they come. */
export interface EventWatcher {
  readonly lines: string[];
  stop(): void;
}

// A UDP datagram to this port on loopback makes the probe event that shows
// `conntrack -E` is subscribed; the exporter reads TCP only, so it never
// counts the probe.
const PROBE_PORT = 9;
const TCP_LINE = /\btcp\s+6\b/;

/**
 * Starts `conntrack -E` in `ns` and resolves once it is subscribed: it has
 * no "ready" line, so probe events are made until one of them is printed.
 * `lines` holds the TCP events printed after that, as they come.
 */
export async function watchEvents(ns: Namespace, args: string[] = []): Promise<EventWatcher> {
  const child = ns.spawn(['conntrack', '-E', ...args]);
  const lines: string[] = [];
  let subscribed = false;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (TCP_LINE.test(line)) lines.push(line);
    else if (line.includes(`dport=${PROBE_PORT} `)) subscribed = true;
  });
  const stop = () => void child.kill('SIGTERM');
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`conntrack -E exited with ${child.exitCode}`);
        const probe = await ns.exec([
          'bash',
          '-c',
          `echo probe > /dev/udp/127.0.0.1/${PROBE_PORT}`,
        ]);
        if (probe.code !== 0) throw new Error(`probe datagram: ${probe.stderr}`);
        // The probe's NEW event is printed at once once subscribed; a few
        // tries cover the time conntrack takes to start.
        return waitFor(() => subscribed, 1_000).catch(() => false);
      },
      30_000,
      'conntrack -E to print a probe event',
    );
  } catch (error) {
    stop();
    throw error;
  }
  // The probe entries stay out of the table the test compares.
  await ns.exec(['conntrack', '-D', '-p', 'udp', '--dport', String(PROBE_PORT)]);
  return { lines, stop };
}

/** Lines the exporter writes to stdout from now on. */
export function stdoutLines(exporter: ExporterProcess): string[] {
  const lines: string[] = [];
  createInterface({ input: exporter.process.stdout! }).on('line', (line) => lines.push(line));
  return lines;
}

const PHASE: Record<string, string> = {
  SYN_SENT: 'opening',
  SYN_SENT2: 'opening',
  SYN_RECV: 'opening',
  ESTABLISHED: 'open',
  FIN_WAIT: 'closing',
  CLOSE_WAIT: 'closing',
  LAST_ACK: 'closing',
  TIME_WAIT: 'closing',
  CLOSE: 'closed',
};

/**
 * The non-zero connection gauges `conntrack -L` implies for a host whose
 * only addresses are `local` (no NAT in these tests), leaving out flows to
 * `ownPort`, as `name{direction,host,port}` -> count.
 */
export async function expectedGauges(
  ns: Namespace,
  local: readonly string[],
  ownPort: number,
): Promise<Map<string, number>> {
  const gauges = new Map<string, number>();
  for (const entry of await conntrackList(ns)) {
    const { original } = entry;
    const inbound = local.includes(original.dst) && !local.includes(original.src);
    const port = original.dport;
    // The exporter's own flows (scrapes), loopback ones included.
    if (local.includes(original.dst) && port === ownPort) continue;
    const host = inbound ? original.src : original.dst;
    const direction = inbound ? 'inbound' : local.includes(original.src) ? 'outbound' : 'forwarded';
    const key = `conntrack_${PHASE[entry.state]}_connections{direction="${direction}",host="${host}",port="${port}"}`;
    gauges.set(key, (gauges.get(key) ?? 0) + 1);
  }
  return gauges;
}

/** The exporter's non-zero connection gauges. */
export function actualGauges(metrics: Map<string, number>): Map<string, number> {
  return new Map(
    [...pick(metrics, /^conntrack_(opening|open|closing|closed)_connections$/)].filter(
      ([, value]) => value !== 0,
    ),
  );
}

const sorted = (map: Map<string, number>) => [...map].sort(([a], [b]) => (a < b ? -1 : 1));

/**
 * Polls until the exporter's gauges equal what `conntrack -L` implies, read
 * one right after the other; fails showing the last difference.
 */
export async function waitForAgreement(
  ns: Namespace,
  exporter: ExporterProcess,
  local: readonly string[],
  ownPort: number,
): Promise<void> {
  await waitForEqual(
    async () => [actualGauges(await exporter.metrics()), await expectedGauges(ns, local, ownPort)],
    'gauges agreeing with conntrack -L',
  );
}

/**
 * The opened/closed counters `conntrack -E` lines imply (NEW and DESTROY
 * events), keyed like the exporter's series, leaving out flows to `ownPort`.
 */
export function expectedCounters(
  lines: readonly string[],
  local: readonly string[],
  ownPort: number,
): Map<string, number> {
  const counters = new Map<string, number>();
  for (const line of lines) {
    const kind = /\[(NEW|DESTROY)\]/.exec(line)?.[1];
    const field = (key: string) => new RegExp(`\\b${key}=(\\S+)`).exec(line)?.[1] ?? '';
    if (kind === undefined) continue;
    const [src, dst, dport] = [field('src'), field('dst'), Number(field('dport'))];
    const inbound = local.includes(dst) && !local.includes(src);
    if (local.includes(dst) && dport === ownPort) continue;
    const direction = inbound ? 'inbound' : local.includes(src) ? 'outbound' : 'forwarded';
    const host = inbound ? src : dst;
    const name = kind === 'NEW' ? 'opened' : 'closed';
    const key = `conntrack_connections_${name}_total{direction="${direction}",host="${host}",port="${dport}"}`;
    counters.set(key, (counters.get(key) ?? 0) + 1);
  }
  return counters;
}

/** The connections per series (`direction,host,port`) `conntrack -L` holds, from expectedGauges. */
export async function tableConnections(
  ns: Namespace,
  local: readonly string[],
  ownPort: number,
): Promise<Map<string, number>> {
  const connections = new Map<string, number>();
  for (const [key, count] of await expectedGauges(ns, local, ownPort)) {
    const series = key.slice(key.indexOf('{'));
    connections.set(series, (connections.get(series) ?? 0) + count);
  }
  return connections;
}

/** The exporter's opened − closed per series (`direction,host,port`), where not zero. */
export function netCounters(metrics: Map<string, number>): Map<string, number> {
  const net = new Map<string, number>();
  for (const [key, count] of pick(metrics, /^conntrack_connections_(opened|closed)_total$/)) {
    const series = key.slice(key.indexOf('{'));
    const sign = key.startsWith('conntrack_connections_opened_total') ? 1 : -1;
    net.set(series, (net.get(series) ?? 0) + sign * count);
  }
  return new Map([...net].filter(([, count]) => count !== 0));
}

/** The exporter's non-zero opened/closed counters. */
export function actualCounters(metrics: Map<string, number>): Map<string, number> {
  return new Map(
    [...pick(metrics, /^conntrack_connections_(opened|closed)_total$/)].filter(
      ([, value]) => value !== 0,
    ),
  );
}

/** Polls until `probe` gives two equal maps; fails showing the last difference. */
export async function waitForEqual(
  probe: () => Promise<[Map<string, number>, Map<string, number>]>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  let last: [Map<string, number>, Map<string, number>] = [new Map(), new Map()];
  try {
    await waitFor(
      async () => {
        last = await probe();
        return JSON.stringify(sorted(last[0])) === JSON.stringify(sorted(last[1]));
      },
      timeoutMs,
      what,
    );
  } catch (error) {
    if (!(error instanceof WaitTimeoutError)) throw error;
    assert.deepEqual(sorted(last[0]), sorted(last[1]), what);
  }
}
