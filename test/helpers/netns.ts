/**
 * Throwaway network namespaces for end-to-end tests against the real kernel.
 *
 * Every namespace gets its own conntrack table, so a test sees exactly the
 * connections it made, and nothing here ever reads or changes the root
 * namespace's table or sysctls.
 */
import {
  execFile,
  execFileSync,
  spawn,
  type ChildProcess,
  type SpawnOptions,
} from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface Namespace {
  readonly name: string;
  readonly ipv4: string;
  readonly ipv6: string;
  /** A non-zero exit is reported in `code`, not thrown: tests often expect failures. */
  exec(cmd: readonly string[]): Promise<ExecResult>;
  /** The process is killed when the namespace is destroyed. */
  spawn(cmd: readonly string[], opts?: SpawnOptions): ChildProcess;
}

export interface DisposableNamespace extends Namespace {
  /** Idempotent. */
  destroy(): Promise<void>;
}

export interface Topology {
  /** "This host": the only namespace whose connections are tracked. */
  readonly host: Namespace;
  /** "A remote host", one veth hop away. */
  readonly remote: Namespace;
  /** Idempotent. */
  destroy(): Promise<void>;
}

export interface ConntrackTuple {
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

export interface ConntrackEntry {
  family: 'ipv4' | 'ipv6';
  /** As conntrack prints it: SYN_SENT, ESTABLISHED, TIME_WAIT, ... */
  state: string;
  timeoutSeconds: number;
  original: ConntrackTuple;
  reply: ConntrackTuple;
  /** ASSURED, UNREPLIED, ... */
  flags: string[];
}

export const HOST_IPV4 = '192.0.2.1';
export const HOST_IPV6 = '2001:db8::1';
export const REMOTE_IPV4 = '192.0.2.2';
export const REMOTE_IPV6 = '2001:db8::2';

// The pid in the name lets a later run tell a leftover of a killed run from
// a namespace that a concurrently running test file still uses.
const NAME_PREFIX = 'cte';
const OWNED_NAME = /^cte-(\d+)-[0-9a-f]+-[hrn]$/;
const EXEC_TIMEOUT_MS = 30_000;
const KILL_GRACE_MS = 500;
// Every state but ESTABLISHED (5 days already) lasts 10 minutes: the
// defaults (10 s for CLOSE, 30 s for LAST_ACK, 60 s for CLOSE_WAIT and
// SYN_RECV, 120 s for the others) can expire between making a connection
// and the assertion about it on a loaded machine. Tests that need an entry
// to end set the one timeout they need lower.
const LONG_TIMEOUT_STATES = [
  'syn_sent',
  'syn_recv',
  'fin_wait',
  'close_wait',
  'last_ack',
  'time_wait',
  'close',
];
const CONNTRACK_SYSCTLS = LONG_TIMEOUT_STATES.map(
  (state) => `net.netfilter.nf_conntrack_tcp_timeout_${state}=600`,
);
// A rule that matches on ct state is what makes the kernel track a namespace.
const TRACKING_RULESET = [
  'add table inet t',
  'add chain inet t inbound { type filter hook input priority 0; }',
  'add chain inet t outbound { type filter hook output priority 0; }',
  'add rule inet t inbound ct state established counter',
  'add rule inet t outbound ct state established counter',
].join('; ');

const live = new Set<NetnsHandle>();

class NetnsHandle implements DisposableNamespace {
  readonly processes = new Set<ChildProcess>();
  private created = false;
  private destroying: Promise<void> | undefined;

  constructor(
    readonly name: string,
    readonly ipv4: string,
    readonly ipv6: string,
  ) {}

  async create(): Promise<void> {
    installLastResortCleanup();
    await mustRun('ip', ['netns', 'add', this.name]);
    this.created = true;
    live.add(this);
    await mustRun('ip', ['-n', this.name, 'link', 'set', 'lo', 'up']);
  }

  exec(cmd: readonly string[]): Promise<ExecResult> {
    return execCapture('ip', ['netns', 'exec', this.name, ...cmd]);
  }

  spawn(cmd: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.name, ...cmd], { stdio: 'pipe', ...opts });
    this.processes.add(child);
    const forget = (): void => void this.processes.delete(child);
    child.once('exit', forget);
    child.once('error', forget);
    return child;
  }

  destroy(): Promise<void> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  private async teardown(): Promise<void> {
    await Promise.all([...this.processes].map(stopProcess));
    if (!this.created) return;
    // Catches what tracked processes started themselves: a live process
    // would keep the namespace (and its sockets) alive after `netns del`.
    await killNamespacePids(this.name);
    await mustRun('ip', ['netns', 'del', this.name]);
    live.delete(this);
  }
}

export async function createTopology(t?: TestContext): Promise<Topology> {
  const id = uniqueId();
  const host = new NetnsHandle(`${NAME_PREFIX}-${process.pid}-${id}-h`, HOST_IPV4, HOST_IPV6);
  const remote = new NetnsHandle(`${NAME_PREFIX}-${process.pid}-${id}-r`, REMOTE_IPV4, REMOTE_IPV6);
  const destroy = async (): Promise<void> => {
    await Promise.all([host.destroy(), remote.destroy()]);
  };
  t?.after(destroy);
  try {
    await reapOrphansOnce();
    await Promise.all([host.create(), remote.create()]);
    // Created directly inside the namespaces: a veth never exists in the
    // root namespace, so its name cannot clash with anything there.
    // Distinct ifindexes: with equal ones (both would be 2) the kernel deems
    // the carrier change of a veth not urgent and may delay it by up to 1 s,
    // and until then IPv6 neighbour discovery fails and the first SYN is lost.
    const hostLink = `${NAME_PREFIX}${id}h`;
    const remoteLink = `${NAME_PREFIX}${id}r`;
    await mustRun('ip', [
      ...['link', 'add', hostLink, 'netns', host.name, 'index', '10', 'type', 'veth'],
      ...['peer', 'name', remoteLink, 'netns', remote.name, 'index', '20'],
    ]);
    await Promise.all([configureLink(host, hostLink), configureLink(remote, remoteLink)]);
    await Promise.all([waitForCarrier(host, hostLink), waitForCarrier(remote, remoteLink)]);
    await enableTracking(host);
  } catch (error) {
    await destroy();
    throw error;
  }
  return { host, remote, destroy };
}

/** One namespace with only `lo` (127.0.0.1, ::1), tracked like the topology's host. */
export async function createNamespace(t?: TestContext): Promise<DisposableNamespace> {
  const ns = new NetnsHandle(`${NAME_PREFIX}-${process.pid}-${uniqueId()}-n`, '127.0.0.1', '::1');
  t?.after(() => ns.destroy());
  try {
    await reapOrphansOnce();
    await ns.create();
    await enableTracking(ns);
  } catch (error) {
    await ns.destroy();
    throw error;
  }
  return ns;
}

/**
 * Adds `rule` to `ns` in a filter chain on `hook`, in its own table (created
 * on first use; later calls with the same table add to it).
 */
export async function addFilterRule(
  ns: Namespace,
  table: string,
  hook: 'input' | 'output',
  rule: string,
): Promise<void> {
  await mustExec(ns, [
    'nft',
    [
      `add table inet ${table}`,
      `add chain inet ${table} ${hook} { type filter hook ${hook} priority 0; }`,
      `add rule inet ${table} ${hook} ${rule}`,
    ].join('; '),
  ]);
}

/** Makes `ns` silently drop incoming TCP to `port`, so a SYN to it stays unanswered. */
export async function dropTcpPort(ns: Namespace, port: number): Promise<void> {
  await addFilterRule(ns, 'blackhole', 'input', `tcp dport ${port} drop`);
}

/**
 * Makes `ns` drop the resets it would send from local `port`, so that a
 * connection the other side closed first stays in TIME_WAIT. The side that
 * closes last is gone once the final ACK arrives; when that ACK came late
 * enough for it to send its FIN again, the second ACK finds no socket and is
 * answered with a reset, which ends the other side's TIME_WAIT and turns the
 * table entry into CLOSE. CI once showed a TIME_WAIT connection of
 * exporter.test.ts as CLOSE; this is the one way we know it gets there (a
 * delayed ACK cannot be staged here: the kernel has no netem).
 */
export async function keepTimeWait(ns: Namespace, port: number): Promise<void> {
  await addFilterRule(ns, 'timewait', 'output', `tcp sport ${port} tcp flags & rst == rst drop`);
}

export async function conntrackList(ns: Namespace): Promise<ConntrackEntry[]> {
  const { stdout } = await mustExec(ns, ['conntrack', '-L', '-p', 'tcp', '-o', 'extended']);
  return parseConntrackList(stdout);
}

/** Parses `conntrack -L -p tcp -o extended`. */
export function parseConntrackList(text: string): ConntrackEntry[] {
  const entries: ConntrackEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const [family, , protocol, , timeout, state] = fields;
    if ((family !== 'ipv4' && family !== 'ipv6') || protocol !== 'tcp' || state === undefined) {
      continue;
    }
    // conntrack prints the original tuple, then the reply tuple, with the
    // same four keys; the first occurrence of a key belongs to the original.
    const tuples: Partial<Record<keyof ConntrackTuple, string>>[] = [{}, {}];
    const flags: string[] = [];
    for (const field of fields.slice(6)) {
      const flag = /^\[(\w+)\]$/.exec(field);
      if (flag?.[1] !== undefined) {
        flags.push(flag[1]);
        continue;
      }
      const [key, value] = field.split('=', 2);
      if (key !== 'src' && key !== 'dst' && key !== 'sport' && key !== 'dport') continue;
      const tuple = tuples[0]?.[key] === undefined ? tuples[0] : tuples[1];
      if (tuple !== undefined) tuple[key] = value;
    }
    entries.push({
      family,
      state,
      timeoutSeconds: Number(timeout),
      original: toTuple(tuples[0], line),
      reply: toTuple(tuples[1], line),
      flags,
    });
  }
  return entries;
}

type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

export class WaitTimeoutError extends Error {}

/**
 * Polls until `probe` returns a truthy value and returns it. Errors thrown by
 * `probe` are not retried: they are bugs, not "not yet".
 */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  timeoutMs = 5_000,
  what = 'condition',
): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as Truthy<T>;
    if (Date.now() >= deadline) {
      throw new WaitTimeoutError(`${what} not met within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function listNamespaces(): Promise<string[]> {
  const { stdout } = await mustRun('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name !== '');
}

/** False for zombies too: a killed child whose parent is gone may never be reaped. */
export function isProcessAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function toTuple(fields: Partial<Record<keyof ConntrackTuple, string>> | undefined, line: string) {
  const { src, dst, sport, dport } = fields ?? {};
  if (src === undefined || dst === undefined || sport === undefined || dport === undefined) {
    throw new Error(`unexpected conntrack line: ${line}`);
  }
  return { src, dst, sport: Number(sport), dport: Number(dport) };
}

async function configureLink(ns: NetnsHandle, link: string): Promise<void> {
  const ip = ['-n', ns.name];
  await mustRun('ip', [...ip, 'addr', 'add', `${ns.ipv4}/24`, 'dev', link]);
  // nodad: the address is usable at once instead of after ~1 s of DAD.
  await mustRun('ip', [...ip, 'addr', 'add', `${ns.ipv6}/64`, 'dev', link, 'nodad']);
  await mustRun('ip', [...ip, 'link', 'set', link, 'up']);
}

async function waitForCarrier(ns: NetnsHandle, link: string): Promise<void> {
  await waitFor(
    async () => {
      const { stdout } = await mustRun('ip', ['-n', ns.name, '-o', 'link', 'show', 'dev', link]);
      return stdout.includes(' state UP ');
    },
    5_000,
    `carrier on ${link} in ${ns.name}`,
  );
}

async function enableTracking(ns: Namespace): Promise<void> {
  await mustExec(ns, ['nft', TRACKING_RULESET]);
  // After nft: the per-namespace sysctls exist once conntrack is loaded.
  for (const setting of CONNTRACK_SYSCTLS) await mustExec(ns, ['sysctl', '-q', '-w', setting]);
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const escalate = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
  // A process stuck in the kernel may ignore even SIGKILL for a while; the
  // namespace is deleted anyway rather than hanging the test run.
  const giveUp = new Promise<void>((resolve) => setTimeout(resolve, KILL_GRACE_MS * 4).unref());
  await Promise.race([exited, giveUp]);
  clearTimeout(escalate);
}

async function killNamespacePids(name: string): Promise<void> {
  const { stdout } = await execCapture('ip', ['netns', 'pids', name]);
  killPids(stdout);
}

function killPids(list: string): void {
  for (const pid of list.split('\n').filter((line) => /^\d+$/.test(line))) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

let reaped: Promise<void> | undefined;

/** Deletes namespaces left by runs that were killed before any cleanup could run. */
function reapOrphansOnce(): Promise<void> {
  reaped ??= (async () => {
    for (const name of await listNamespaces()) {
      const owner = OWNED_NAME.exec(name)?.[1];
      if (owner === undefined || isProcessAlive(Number(owner))) continue;
      await killNamespacePids(name);
      await execCapture('ip', ['netns', 'del', name]);
    }
  })();
  return reaped;
}

let lastResortInstalled = false;

/**
 * For when no `t.after` hook gets to run: a test without a TestContext, an
 * uncaught exception, a signal. Must be synchronous to run inside 'exit'.
 */
function installLastResortCleanup(): void {
  if (lastResortInstalled) return;
  lastResortInstalled = true;
  process.on('exit', destroyAllSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      destroyAllSync();
      // Keep the default meaning of the signal unless someone else handles it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

function destroyAllSync(): void {
  for (const ns of live) {
    for (const child of ns.processes) child.kill('SIGKILL');
    try {
      killPids(execFileSync('ip', ['netns', 'pids', ns.name], { encoding: 'utf8' }));
      execFileSync('ip', ['netns', 'del', ns.name], { stdio: 'ignore' });
    } catch {
      // Best effort: the process is exiting and has nobody to report to.
    }
  }
  live.clear();
}

function uniqueId(): string {
  return randomBytes(3).toString('hex');
}

async function mustExec(ns: Namespace, cmd: readonly string[]): Promise<ExecResult> {
  return check(`ip netns exec ${ns.name} ${cmd.join(' ')}`, await ns.exec(cmd));
}

async function mustRun(file: string, args: readonly string[]): Promise<ExecResult> {
  return check(`${file} ${args.join(' ')}`, await execCapture(file, args));
}

function check(command: string, result: ExecResult): ExecResult {
  if (result.code !== 0) {
    throw new Error(`${command}: exit ${result.code}: ${result.stderr.trim()}`);
  }
  return result;
}

function execCapture(file: string, args: readonly string[]): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { encoding: 'utf8', timeout: EXEC_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error === null) resolve({ stdout, stderr, code: 0 });
        else if (typeof error.code === 'number') resolve({ stdout, stderr, code: error.code });
        else reject(new Error(`${file} ${args.join(' ')}: ${error.message}`));
      },
    );
  });
}
