/**
 * The addon's list of silent entries (native/conntrack/silent-list.h) for
 * unit tests, without a kernel: the same rounds, forgetting and reporting
 * of changes, over a lookup the test answers.
 */
import type { Checked } from '../../src/conntrack';
import { CHECK_NO_STATE } from '../../src/conntrack';
import type { SilentChange, SilentCheck, SilentList } from '../../src/conntrack/silent-list';
import type { TcpState } from '../../src/conntrack/types';

/** Answers a check of these connections (key and kernel id), in order. */
export type FakeLookup = (keys: readonly string[], ids: readonly number[]) => Promise<Checked[]>;

interface Listed {
  key: string;
  id: number;
  state: TcpState | undefined;
  live: boolean;
}

export class FakeSilentList implements SilentList {
  private entries: Listed[] = [];
  private cursor = 0;
  private checking = false;

  constructor(private readonly lookup: FakeLookup) {}

  get size(): number {
    return this.entries.filter((entry) => entry.live).length;
  }

  get remaining(): number {
    return this.entries.slice(this.cursor).filter((entry) => entry.live).length;
  }

  replace(lines: string): void {
    this.entries = (lines === '' ? [] : lines.split('\n')).map((line) => {
      const fields = line.split('|');
      const state = Number(fields.pop());
      const id = Number(fields.pop());
      return {
        key: fields.join('|'),
        id,
        state: state === CHECK_NO_STATE ? undefined : (state as TcpState),
        live: true,
      };
    });
    this.cursor = 0;
  }

  forget(key: string): void {
    for (const entry of this.entries) if (entry.key === key) entry.live = false;
  }

  keys(): string[] {
    return this.entries.filter((entry) => entry.live).map((entry) => entry.key);
  }

  rewind(): void {
    this.cursor = 0;
  }

  async check(count: number): Promise<SilentCheck> {
    if (this.checking) throw new Error('a check is already under way');
    const asked: Listed[] = [];
    for (; this.cursor < this.entries.length && asked.length < count; this.cursor++) {
      const entry = this.entries[this.cursor]!;
      if (entry.live) asked.push(entry);
    }
    while (this.cursor < this.entries.length && !this.entries[this.cursor]!.live) this.cursor++;
    const wrapped = this.cursor === this.entries.length;
    if (wrapped) this.cursor = 0;
    if (asked.length === 0) return { changes: [], checked: 0, wrapped };
    this.checking = true;
    try {
      const found = await this.lookup(
        asked.map((entry) => entry.key),
        asked.map((entry) => entry.id),
      );
      const changes: SilentChange[] = [];
      asked.forEach((entry, i) => {
        const now = found[i]!;
        if (!entry.live || (!now.gone && now.state === entry.state)) return;
        changes.push({ key: entry.key, id: entry.id, now });
        if (now.gone) entry.live = false;
        else entry.state = now.state;
      });
      return { changes, checked: asked.length, wrapped };
    } finally {
      this.checking = false;
    }
  }
}
