/**
 * The benchmark's conntrack table: a throwaway namespace whose table holds
 * only synthetic entries, made and removed by the C helper (fill.c), and
 * the kernel's own CLI timed on it as the reference.
 */
import { existsSync } from 'node:fs';

import { createNamespace, type DisposableNamespace } from '../../test/helpers/netns';

/** Built by `make bench` from bench/conntrack/fill.c. */
export const FILL = '.bench/conntrack-fill';
/** "This host" in the synthetic entries (see fill.c). */
const LOCAL_ADDRESSES = ['192.0.2.1/32', '2001:db8::1/128'];

export interface FillResult {
  done: number;
  failed: number;
  seconds: number;
  firstError: string;
}

export interface FillOptions {
  offset: number;
  hosts: number;
}

export class BenchTable {
  private constructor(readonly ns: DisposableNamespace) {}

  static async create(): Promise<BenchTable> {
    if (!existsSync(FILL)) throw new Error(`${FILL} is missing: run the benchmark with make bench`);
    const ns = await createNamespace();
    const table = new BenchTable(ns);
    try {
      // The test namespaces track real traffic; here the table must hold
      // the synthetic entries only, so the scrapes themselves go untracked.
      await table.run(['nft', 'flush', 'ruleset']);
      // With the default (2) the kernel sends no event for entries made
      // before the exporter subscribed, and events mode would read the
      // whole table at every scrape until they are gone (see docs/events-mode.md).
      await table.run(['sysctl', '-q', '-w', 'net.netfilter.nf_conntrack_events=1']);
      // The exporter tells inbound from outbound by its own addresses.
      for (const address of LOCAL_ADDRESSES) {
        await table.run(['ip', 'addr', 'add', address, 'dev', 'lo', 'nodad']);
      }
    } catch (error) {
      await ns.destroy();
      throw error;
    }
    return table;
  }

  /** Creates (or destroys) entries offset .. offset+count-1; rejects unless all succeeded. */
  async change(
    mode: 'create' | 'destroy',
    count: number,
    options: FillOptions,
  ): Promise<FillResult> {
    const child = this.ns.spawn([FILL, mode, String(count), ...fillArgs(options)]);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`conntrack-fill ${mode} exited with ${code}: ${stderr}`);
    const result = JSON.parse(stdout) as FillResult;
    if (result.failed > 0) {
      throw new Error(
        `conntrack-fill ${mode}: ${result.failed} of ${count} failed (${result.firstError})`,
      );
    }
    return result;
  }

  /** Entries of every protocol (conntrack -C). */
  async count(): Promise<number> {
    return Number((await this.run(['conntrack', '-C'])).trim());
  }

  /** Wall time of each of `runs` runs of `conntrack -L -p tcp > /dev/null`, in ms. */
  async timeListing(runs: number): Promise<number[]> {
    // bash's `time` around the command alone: not the cost of entering the
    // namespace. One exec per run keeps each within the exec's time limit.
    const script = 'TIMEFORMAT=%R; time (conntrack -L -p tcp > /dev/null 2>&1)';
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const { stderr } = await this.exec(['bash', '-c', script]);
      times.push(Number(stderr.trim()) * 1000);
    }
    return times;
  }

  async run(cmd: readonly string[]): Promise<string> {
    return (await this.exec(cmd)).stdout;
  }

  destroy(): Promise<void> {
    return this.ns.destroy();
  }

  private async exec(cmd: readonly string[]): Promise<{ stdout: string; stderr: string }> {
    const result = await this.ns.exec(cmd);
    if (result.code !== 0) {
      throw new Error(`${cmd.join(' ')}: exit ${result.code}: ${result.stderr.trim()}`);
    }
    return result;
  }
}

function fillArgs({ offset, hosts }: FillOptions): string[] {
  return ['--offset', String(offset), '--hosts', String(hosts)];
}
