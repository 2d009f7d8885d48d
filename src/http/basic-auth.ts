import { createHash } from 'node:crypto';

import bcrypt from 'bcryptjs';

// bcrypt of a password nobody has, compared against for unknown users so
// that the time of an answer does not tell which user names exist.
const DECOY_HASH = '$2b$10$hua7W4I1nLwzit8L9UmmE.XVioQpCdgGxIPzWYTR4b2USx/xTCtX6';
// Enough for every scraper of one exporter; bounded so that a stream of
// wrong passwords cannot grow it.
const CACHE_SIZE = 100;

/**
 * HTTP basic authentication against bcrypt hashes, as exporter-toolkit does
 * it: a result is cached per (user, hash, password), so a scraper pays for
 * bcrypt once, not on every scrape; identical checks in flight share one
 * computation; and computations run one at a time, because bcrypt is CPU
 * work on the thread that also serves the scrapes.
 */
export class BasicAuth {
  private readonly cache = new Map<string, boolean>();
  private readonly inFlight = new Map<string, Promise<boolean>>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly users: ReadonlyMap<string, string>) {}

  get enabled(): boolean {
    return this.users.size > 0;
  }

  /** True when the Authorization header names a user with the right password. */
  async check(authorization: string | undefined): Promise<boolean> {
    const credentials = parseBasic(authorization);
    if (credentials === undefined) return false;
    const { user, password } = credentials;
    const hash = this.users.get(user);
    const key = createHash('sha256')
      .update(`${user}\0${hash ?? ''}\0${password}`)
      .digest('base64');
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    let pending = this.inFlight.get(key);
    if (pending === undefined) {
      pending = this.compare(password, hash).then((ok) => {
        this.remember(key, ok);
        return ok;
      });
      pending.finally(() => this.inFlight.delete(key)).catch(() => undefined);
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  private compare(password: string, hash: string | undefined): Promise<boolean> {
    const run = () =>
      bcrypt
        .compare(password, hash ?? DECOY_HASH)
        .then((ok) => ok && hash !== undefined)
        .catch(() => false);
    const result = this.queue.then(run, run);
    this.queue = result;
    return result;
  }

  private remember(key: string, ok: boolean): void {
    if (this.cache.size >= CACHE_SIZE) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(key, ok);
  }
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
