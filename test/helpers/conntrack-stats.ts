/**
 * `conntrack -S`, the kernel CLI's listing of the per-CPU conntrack
 * statistics, as the reference the exporter's reading is checked against.
 */
import type { Namespace } from './netns';

export interface ConntrackStatsListing {
  cpus: number;
  /** Each statistic summed over the CPU lines, by the name the CLI prints. */
  totals: Record<string, number>;
}

/** Parses lines like `cpu=0   found=0 invalid=2 ... chaintoolong=0`. */
export function parseConntrackStats(text: string): ConntrackStatsListing {
  const totals: Record<string, number> = {};
  let cpus = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('cpu=')) continue;
    cpus++;
    for (const [, name, value] of line.matchAll(/(\w+)=(\d+)/g)) {
      if (name !== 'cpu') totals[name!] = (totals[name!] ?? 0) + Number(value);
    }
  }
  return { cpus, totals };
}

export async function conntrackStats(ns: Namespace): Promise<ConntrackStatsListing> {
  const result = await ns.exec(['conntrack', '-S']);
  if (result.code !== 0) throw new Error(`conntrack -S: ${result.stderr}`);
  return parseConntrackStats(result.stdout);
}
