/**
 * The one change the conntrack benchmark makes outside its namespaces: the
 * table limit (nf_conntrack_max) and hash size (nf_conntrack_buckets) are
 * global, read-only inside a namespace, and too small for a million entries
 * by default. They are raised for the run and always put back: on return,
 * on failure, on a signal, and, for a run killed outright, by the next run,
 * from the values saved before anything was changed.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const DIR = '/proc/sys/net/netfilter';
const SAVED = path.join('.bench', 'conntrack-sysctls.json');

type Setting = 'nf_conntrack_max' | 'nf_conntrack_buckets';
type Values = Record<Setting, number>;

function read(setting: Setting): number {
  return Number(readFileSync(path.join(DIR, setting), 'utf8').trim());
}

function write(setting: Setting, value: number): void {
  writeFileSync(path.join(DIR, setting), `${value}\n`);
}

/** Synchronous, so that it can run in an 'exit' handler. Idempotent. */
function restoreSaved(): Values | undefined {
  if (!existsSync(SAVED)) return undefined;
  const saved = JSON.parse(readFileSync(SAVED, 'utf8')) as Values;
  // The limit first: a smaller hash is fine for any count, a smaller limit is not.
  write('nf_conntrack_max', saved.nf_conntrack_max);
  write('nf_conntrack_buckets', saved.nf_conntrack_buckets);
  rmSync(SAVED);
  return saved;
}

/**
 * Raises the limit and the hash to at least `entries` (one bucket per entry,
 * the kernel's own default ratio), until the returned function is called or
 * the process ends.
 */
export function raiseTableLimits(entries: number): { restore: () => void; note: string } {
  const leftover = restoreSaved();
  if (leftover !== undefined) {
    process.stderr.write(
      `restored nf_conntrack_max=${leftover.nf_conntrack_max} and nf_conntrack_buckets=` +
        `${leftover.nf_conntrack_buckets}, left raised by an earlier run that was killed\n`,
    );
  }
  const before: Values = {
    nf_conntrack_max: read('nf_conntrack_max'),
    nf_conntrack_buckets: read('nf_conntrack_buckets'),
  };
  const wanted: Values = {
    nf_conntrack_max: Math.max(before.nf_conntrack_max, entries),
    nf_conntrack_buckets: Math.max(before.nf_conntrack_buckets, entries),
  };
  mkdirSync(path.dirname(SAVED), { recursive: true });
  writeFileSync(SAVED, JSON.stringify(before));
  const restore = (): void => void restoreSaved();
  process.on('exit', restore);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // Exiting runs the 'exit' handlers: this one, and the namespaces' cleanup.
    process.once(signal, () => process.exit(128 + os.constants.signals[signal]));
  }
  // Hash before limit: the table never holds more than its hash was sized for.
  write('nf_conntrack_buckets', wanted.nf_conntrack_buckets);
  write('nf_conntrack_max', wanted.nf_conntrack_max);
  return {
    restore,
    note:
      `nf_conntrack_max ${before.nf_conntrack_max} -> ${wanted.nf_conntrack_max}, ` +
      `nf_conntrack_buckets ${before.nf_conntrack_buckets} -> ${wanted.nf_conntrack_buckets} ` +
      '(restored afterwards)',
  };
}
