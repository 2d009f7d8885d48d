import { Resolver } from 'node:dns/promises';

import { addressBytes } from './network';

/** Asks DNS for the PTR names of an address. */
export type ReverseLookup = (address: string) => Promise<string[]>;

/**
 * Why a lookup gave no name: the name does not exist (NXDOMAIN, or no PTR
 * record), the server did not answer in time, or anything else (SERVFAIL,
 * REFUSED, no server reachable).
 */
export type FailureReason = 'not_found' | 'timeout' | 'error';

export const FAILURE_REASONS: readonly FailureReason[] = ['not_found', 'timeout', 'error'];

export interface DnsCacheOptions {
  lookup: ReverseLookup;
  /** How long a name is used before it is looked up again. */
  ttlMs: number;
  /** How long a failure is kept before the address is looked up again. */
  negativeTtlMs: number;
  /** Lookups running at once; more wait their turn. */
  maxInFlight: number;
  now?: () => number;
}

export interface DnsStats {
  /** Lookups started. */
  lookups: number;
  /** Addresses asked for that were answered from the cache, names and failures alike. */
  hits: number;
  failures: Record<FailureReason, number>;
}

interface Entry {
  /** Undefined when the address has no name (yet). */
  name: string | undefined;
  /** When to look the address up again. */
  dueAt: number;
  /** Last time someone asked for the address; entries nobody asks for go. */
  wantedAt: number;
}

/**
 * Names of remote addresses from reverse DNS, cached, for labels.
 *
 * `nameOf` answers synchronously with what is known, so a scrape never
 * blocks on DNS; `refresh` starts background lookups of the addresses that
 * are new or due, and a scrape waits for those at most its budget
 * (`refreshWithin`). A known name stays in use until a lookup says
 * otherwise: past its TTL it is still used while it is looked up again, a
 * timeout or server failure keeps it (and retries after the negative TTL),
 * and of several PTR names the one in use is kept while it is still among
 * them. Only NXDOMAIN or an answer with other names replaces it. That keeps
 * series from flapping between a name and an address.
 */
export class DnsCache {
  readonly stats: DnsStats = {
    lookups: 0,
    hits: 0,
    failures: { not_found: 0, timeout: 0, error: 0 },
  };
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<void>>();
  private readonly waiting: (() => void)[] = [];
  private running = 0;
  private readonly now: () => number;

  constructor(private readonly options: DnsCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  nameOf(address: string): string | undefined {
    return this.entries.get(address)?.name;
  }

  /** Addresses held, named or not. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Starts lookups for the addresses that are not known or are due, and
   * forgets the addresses nobody asked for within a TTL. Resolves when the
   * lookups of these addresses (started now or before) have ended; never
   * rejects.
   */
  refresh(addresses: Iterable<string>): Promise<void> {
    const now = this.now();
    const waits: Promise<void>[] = [];
    for (const address of addresses) {
      const entry = this.entries.get(address);
      if (entry !== undefined) entry.wantedAt = now;
      const running = this.pending.get(address);
      if (running !== undefined) waits.push(running);
      else if (entry !== undefined && entry.dueAt > now) this.stats.hits++;
      else waits.push(this.start(address));
    }
    this.forgetUnwanted(now);
    return Promise.all(waits).then(() => undefined);
  }

  /** `refresh`, waiting at most `budgetMs`; later answers still land in the cache. */
  async refreshWithin(addresses: Iterable<string>, budgetMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const budget = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, budgetMs);
    });
    try {
      await Promise.race([this.refresh(addresses), budget]);
    } finally {
      clearTimeout(timer);
    }
  }

  private start(address: string): Promise<void> {
    const done = this.acquire()
      .then(() => this.lookUp(address))
      .finally(() => {
        this.pending.delete(address);
        this.release();
      });
    this.pending.set(address, done);
    return done;
  }

  private async lookUp(address: string): Promise<void> {
    this.stats.lookups++;
    const previous = this.entries.get(address);
    let name: string | undefined;
    let ttl = this.options.ttlMs;
    try {
      const names = (await this.options.lookup(address))
        .map((found) => found.replace(/\.$/, ''))
        .filter((found) => found !== '');
      if (names.length === 0) throw Object.assign(new Error('no PTR record'), { code: 'ENODATA' });
      name =
        previous?.name !== undefined && names.includes(previous.name) ? previous.name : names[0];
    } catch (error) {
      const reason = failureReason(error);
      this.stats.failures[reason]++;
      // Only "no such name" says the old name is wrong; a server that fails
      // or does not answer says nothing about it.
      name = reason === 'not_found' ? undefined : previous?.name;
      ttl = this.options.negativeTtlMs;
    }
    const now = this.now();
    this.entries.set(address, { name, dueAt: now + ttl, wantedAt: previous?.wantedAt ?? now });
  }

  private forgetUnwanted(now: number): void {
    const keep = Math.max(this.options.ttlMs, this.options.negativeTtlMs);
    for (const [address, entry] of this.entries) {
      if (now - entry.wantedAt > keep && !this.pending.has(address)) this.entries.delete(address);
    }
  }

  private acquire(): Promise<void> {
    if (this.running < this.options.maxInFlight) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    // The slot passes straight to the next lookup, so `running` stays.
    if (next !== undefined) next();
    else this.running--;
  }
}

/**
 * Reverse lookups through the DNS servers of /etc/resolv.conf: a PTR query
 * for the address's in-addr.arpa or ip6.arpa name. Not resolver.reverse():
 * c-ares reports every failure of that one, timeouts included, as
 * ENOTFOUND, which would make a silent server look like "no such name".
 */
export function systemReverseLookup(timeoutMs: number): ReverseLookup {
  // One try per server: the default of four would retry a silent server
  // for several times the timeout.
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  return (address) => resolver.resolvePtr(reverseName(address));
}

/** "7.100.51.198.in-addr.arpa", or the 32 nibbles of an IPv6 address under ip6.arpa. */
export function reverseName(address: string): string {
  const bytes = addressBytes(address);
  if (bytes.length === 4) return `${[...bytes].reverse().join('.')}.in-addr.arpa`;
  const nibbles = [...bytes].flatMap((byte) => [byte >> 4, byte & 0xf]);
  return `${nibbles
    .reverse()
    .map((nibble) => nibble.toString(16))
    .join('.')}.ip6.arpa`;
}

function failureReason(error: unknown): FailureReason {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ENOTFOUND' || code === 'ENODATA') return 'not_found';
  if (code === 'ETIMEOUT') return 'timeout';
  return 'error';
}
