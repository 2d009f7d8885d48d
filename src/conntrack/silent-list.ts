/**
 * The entries that send no events (nf_conntrack_events=2, opened before the
 * exporter), kept in the addon and checked there in rounds: JavaScript sees
 * only the entries whose state changed or that are gone.
 */
import { addon, Checked, CHECK_NO_STATE, checkedOf } from './index';
import type { NativeSilentList as AddonList } from './addon';
import { TcpState } from './types';

/** One entry a check found changed: its key (identityKey), kernel id, and what it is now. */
export interface SilentChange {
  key: string;
  id: number;
  now: Checked;
}

export interface SilentCheck {
  changes: SilentChange[];
  /** Entries asked about. */
  checked: number;
  /** The check reached the end of the list: the next one starts a new round. */
  wrapped: boolean;
}

/** The silent entries as the live table and its watch use them: the addon's list, or a fake in tests. */
export interface SilentList {
  /** Entries listed. */
  readonly size: number;
  /** Entries listed and not yet checked in this round. */
  readonly remaining: number;
  /** The whole list, lines made by silentLine; a new round starts. */
  replace(lines: string): void;
  /** The entry sends events now: it leaves the list. */
  forget(key: string): void;
  keys(): string[];
  /** The next check starts a new round. */
  rewind(): void;
  /**
   * Checks the next `count` entries of the round, and reports those whose
   * TCP state changed (kept, with the new state) or that are gone, or whose
   * tuple is another connection's now (dropped). One check at a time;
   * rejects when the lookup failed.
   */
  check(count: number): Promise<SilentCheck>;
}

/** One line of SilentList.replace(). */
export function silentLine(key: string, id: number, state: TcpState | undefined): string {
  return `${key}|${id}|${state ?? CHECK_NO_STATE}`;
}

/** The addon's list. */
export class NativeSilentList implements SilentList {
  private readonly native: AddonList = new (addon().SilentList)();

  // Kept here: the live table asks for it at every event, and asking the
  // addon each time cost about a tenth of an event's handling.
  private listed = 0;

  get size(): number {
    return this.listed;
  }

  get remaining(): number {
    return this.native.remaining;
  }

  replace(lines: string): void {
    this.native.replace(lines);
    this.listed = this.native.size;
  }

  forget(key: string): void {
    this.listed = this.native.forget(key);
  }

  keys(): string[] {
    const text = this.native.keys();
    return text === '' ? [] : text.split('\n');
  }

  rewind(): void {
    this.native.rewind();
  }

  async check(count: number): Promise<SilentCheck> {
    const { changes, checked, wrapped } = await this.native.check(count);
    // The gone ones left the list.
    this.listed = this.native.size;
    return {
      changes: changes === '' ? [] : changes.split('\n').map(parseChange),
      checked,
      wrapped,
    };
  }
}

function parseChange(line: string): SilentChange {
  const stateAt = line.lastIndexOf('|');
  const idAt = line.lastIndexOf('|', stateAt - 1);
  return {
    key: line.slice(0, idAt),
    id: Number(line.slice(idAt + 1, stateAt)),
    now: checkedOf(Number(line.slice(stateAt + 1))),
  };
}
