/** Child processes of the benchmark: started, watched (CPU, memory) and always stopped. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

const started = new Set<ChildProcess>();

export interface Subprocess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** User + system CPU seconds of the process and its reaped children. */
  cpuSeconds(): number;
  /** Resident memory in bytes. */
  rssBytes(): number;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  stop(): Promise<void>;
}

const TICKS_PER_SECOND = 100;

/** Starts a command and resolves once its stdout matches `ready` (or at once without one). */
export async function startProcess(
  command: string,
  args: readonly string[],
  ready?: RegExp,
  timeoutMs = 15_000,
): Promise<Subprocess> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  started.add(child);
  let output = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => (output += text));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${command} did not start: ${output}`)),
      timeoutMs,
    );
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${output}`));
    });
    child.stdout.on('data', (text: string) => {
      output += text;
      if (ready?.test(output)) done();
    });
    if (ready === undefined) child.once('spawn', done);
  });
  const pid = child.pid ?? 0;
  return {
    pid,
    child,
    cpuSeconds: () => cpuSecondsOf(pid),
    rssBytes: () => rssBytesOf(pid),
    output: () => output,
    stop: () => stopProcess(child),
  };
}

export function cpuSecondsOf(pid: number): number {
  // Fields after the command name, which is in parentheses and may hold spaces.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = [11, 12, 13, 14].reduce((sum, index) => sum + Number(fields[index]), 0);
  return ticks / TICKS_PER_SECOND;
}

export function rssBytesOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  return Number(kib ?? 0) * 1024;
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  started.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}

/** Kills whatever is still running; for exits and failures. */
export function stopAll(): void {
  for (const child of started) child.kill('SIGKILL');
  started.clear();
}

process.on('exit', stopAll);
