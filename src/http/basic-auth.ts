import { createHash } from 'node:crypto';

import bcrypt from 'bcryptjs';

// The salt and hash of a password nobody has, compared against for unknown
// users so that the time of an answer does not tell which user names exist.
// Its cost is set to the configured hashes' (see decoyHash).
const DECOY_TAIL = 'hua7W4I1nLwzit8L9UmmE.XVioQpCdgGxIPzWYTR4b2USx/xTCtX6';
// Enough for every scraper of one exporter. Wrong passwords never enter
// it, so a stream of them cannot push a good one out.
const VERIFIED_CACHE_SIZE = 100;
// Recent wrong credentials, answered without bcrypt when sent again.
const FAILED_CACHE_SIZE = 1024;

/** How much bcrypt work credentials not yet verified may ask for at once. */
export interface CheckBudget {
  /** Checks waiting for or running bcrypt, all clients together. */
  maxPending: number;
  /** The same, for one client address. */
  maxPendingPerClient: number;
}

export const DEFAULT_CHECK_BUDGET: Readonly<CheckBudget> = {
  maxPending: 4,
  maxPendingPerClient: 1,
};

/** ok: let in; denied: 401; busy: the budget for unverified credentials is spent (503). */
export type AuthResult = 'ok' | 'denied' | 'busy';

/**
 * HTTP basic authentication against bcrypt hashes, as exporter-toolkit does
 * it, and so that wrong passwords cannot crowd out the right ones:
 * - Verified credentials are remembered (per user, hash and password): a
 *   scraper pays for bcrypt once, not at every scrape, and is answered at
 *   once whatever else is going on.
 * - Recent wrong credentials are remembered apart, and answered at once.
 * - Anything else needs bcrypt, which is CPU work on the thread that also
 *   serves the scrapes: one computation at a time, identical checks in
 *   flight sharing it, and only a few checks waiting at once, one per client
 *   address. A check beyond that is not queued: the caller answers 503.
 */
export class BasicAuth {
  private readonly verifiedKeys = new Map<string, true>();
  private readonly failedKeys = new Map<string, true>();
  private readonly inFlight = new Map<string, Promise<boolean>>();
  private readonly pendingPerClient = new Map<string, number>();
  private pending = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly decoy: string;

  constructor(
    private readonly users: ReadonlyMap<string, string>,
    private readonly budget: CheckBudget = DEFAULT_CHECK_BUDGET,
  ) {
    this.decoy = decoyHash(users);
  }

  get enabled(): boolean {
    return this.users.size > 0;
  }

  /** True when these credentials were verified recently: a check answers at once. */
  verified(authorization: string | undefined): boolean {
    const key = this.keyOf(authorization);
    return key !== undefined && this.verifiedKeys.has(key);
  }

  /** Whether the Authorization header names a user with the right password; `client` is its address. */
  async check(authorization: string | undefined, client = ''): Promise<AuthResult> {
    const credentials = parseBasic(authorization);
    if (credentials === undefined) return 'denied';
    const { user, password } = credentials;
    const hash = this.users.get(user);
    const key = cacheKey(user, hash, password);
    if (this.verifiedKeys.has(key)) {
      // Most recently used last, so the scrapers in use are never the oldest.
      this.verifiedKeys.delete(key);
      this.verifiedKeys.set(key, true);
      return 'ok';
    }
    if (this.failedKeys.has(key)) return 'denied';
    let pending = this.inFlight.get(key);
    if (pending === undefined) {
      const perClient = this.pendingPerClient.get(client) ?? 0;
      if (this.pending >= this.budget.maxPending || perClient >= this.budget.maxPendingPerClient) {
        return 'busy';
      }
      this.pending++;
      this.pendingPerClient.set(client, perClient + 1);
      pending = this.compare(password, hash).then((ok) => {
        remember(
          ok ? this.verifiedKeys : this.failedKeys,
          key,
          ok ? VERIFIED_CACHE_SIZE : FAILED_CACHE_SIZE,
        );
        return ok;
      });
      pending
        .finally(() => {
          this.inFlight.delete(key);
          this.pending--;
          const left = (this.pendingPerClient.get(client) ?? 1) - 1;
          if (left > 0) this.pendingPerClient.set(client, left);
          else this.pendingPerClient.delete(client);
        })
        .catch(() => undefined);
      this.inFlight.set(key, pending);
    }
    return (await pending) ? 'ok' : 'denied';
  }

  private keyOf(authorization: string | undefined): string | undefined {
    const credentials = parseBasic(authorization);
    if (credentials === undefined) return undefined;
    return cacheKey(credentials.user, this.users.get(credentials.user), credentials.password);
  }

  private compare(password: string, hash: string | undefined): Promise<boolean> {
    const run = () =>
      bcrypt
        .compare(password, hash ?? this.decoy)
        .then((ok) => ok && hash !== undefined)
        .catch(() => false);
    const result = this.queue.then(run, run);
    this.queue = result;
    return result;
  }
}

function cacheKey(user: string, hash: string | undefined, password: string): string {
  return createHash('sha256')
    .update(`${user}\0${hash ?? ''}\0${password}`)
    .digest('base64');
}

function remember(cache: Map<string, true>, key: string, size: number): void {
  if (cache.size >= size) {
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) cache.delete(oldest);
  }
  cache.set(key, true);
}

/**
 * The decoy at the cost most of the configured hashes have, so that an
 * unknown user costs what a known one does (bcrypt's time is its cost).
 */
export function decoyHash(users: ReadonlyMap<string, string>): string {
  const counts = new Map<string, number>();
  for (const hash of users.values()) {
    const cost = /^\$2[a-z]?\$(\d\d)\$/.exec(hash)?.[1];
    if (cost !== undefined) counts.set(cost, (counts.get(cost) ?? 0) + 1);
  }
  let cost = '10';
  let most = 0;
  for (const [candidate, count] of counts) {
    if (count > most) [cost, most] = [candidate, count];
  }
  return `$2b$${cost}$${DECOY_TAIL}`;
}

/** "Basic base64(user:password)" -> its parts; undefined when it is not that. */
export function parseBasic(
  authorization: string | undefined,
): { user: string; password: string } | undefined {
  const match = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(authorization ?? '');
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
