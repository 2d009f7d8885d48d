/**
 * Synthetic conntrack entries for end-to-end tests: many flows to many
 * remote addresses, written into a test namespace's table in one
 * `conntrack --load-file` call (thousands take well under a second), without
 * any real traffic.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { Namespace } from './netns';

export interface SyntheticEntry {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  /** As conntrack takes it: SYN_SENT, ESTABLISHED, TIME_WAIT, CLOSE, ... */
  state: string;
  /** Status flags as conntrack takes them, e.g. ASSURED (an entry the kernel will not evict). */
  status?: string;
  /** Seconds until the kernel forgets it (TIMEOUT_SECONDS unless given). */
  timeout?: number;
}

/** `count` established connections to 10.9.0.1:443 from 10.`subnet`.x.y, one source port each. */
export function establishedFlows(count: number, subnet: number): SyntheticEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    src: `10.${subnet}.${Math.floor(i / 250)}.${(i % 250) + 1}`,
    dst: '10.9.0.1',
    sport: 20_000 + i,
    dport: 443,
    state: 'ESTABLISHED',
  }));
}

/**
 * `count` established connections to `dst`:443, each from its own
 * 10.x.y.z address: enough distinct tuples to fill a whole table.
 * `status` ASSURED makes them entries the kernel may not evict.
 */
export function fillerFlows(count: number, dst: string, status?: string): SyntheticEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    dst,
    sport: 1024 + (i % 60_000),
    dport: 443,
    state: 'ESTABLISHED',
    ...(status === undefined ? {} : { status }),
  }));
}

/** Long enough to outlive any test; the namespace goes away with its table anyway. */
const TIMEOUT_SECONDS = 3_600;

export async function insertEntries(
  ns: Namespace,
  entries: readonly SyntheticEntry[],
): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'cte-entries-'));
  try {
    const file = path.join(dir, 'entries');
    writeFileSync(
      file,
      entries
        .map(
          (e) =>
            `-I -p tcp -s ${e.src} -d ${e.dst} --sport ${e.sport} --dport ${e.dport} ` +
            `--state ${e.state}${e.status ? ` --status ${e.status}` : ''} ` +
            `--timeout ${e.timeout ?? TIMEOUT_SECONDS}\n`,
        )
        .join(''),
    );
    const result = await ns.exec(['conntrack', '--load-file', file]);
    if (result.code !== 0) throw new Error(`conntrack --load-file: ${result.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
