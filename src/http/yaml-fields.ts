import { UsageError } from '../errors';
import { durationMs } from '../options/duration';

/**
 * Reading one typed field at a time out of parsed YAML, so that every
 * mistake in a hand-written file names its key path ("tls_server_config.
 * min_version") in one line. Maps arrive as Map (yaml's mapAsMap), so a key
 * such as "__proto__" is data, never an object's prototype.
 */
export class Fields {
  constructor(
    private readonly source: string,
    private readonly map: ReadonlyMap<string, unknown>,
    private readonly prefix: string,
  ) {}

  /** The mapping at the top of a document; an empty document is an empty mapping. */
  static root(source: string, value: unknown): Fields {
    return new Fields(source, asMap(source, value, 'the file'), '');
  }

  error(key: string, problem: string): UsageError {
    return new UsageError(`${this.source}: ${escapeControls(this.where(key))}: ${problem}`);
  }

  /** Refuses any key not in `known`: a misspelt key must not silently switch a setting off. */
  onlyKeys(known: readonly string[]): void {
    for (const key of this.map.keys()) {
      if (!known.includes(key)) {
        const where = this.prefix === '' ? 'the file' : this.prefix;
        throw new UsageError(
          `${this.source}: unknown key ${quote(this.where(key))} in ${where}; known keys: ${known.join(', ')}`,
        );
      }
    }
  }

  keys(): string[] {
    return [...this.map.keys()];
  }

  has(key: string): boolean {
    const value = this.map.get(key);
    return value !== undefined && value !== null;
  }

  child(key: string): Fields {
    return new Fields(
      this.source,
      asMap(this.source, this.map.get(key), this.where(key)),
      this.where(key),
    );
  }

  string(key: string): string | undefined {
    const value = this.map.get(key);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string')
      throw this.error(key, `expected a string, got ${describe(value)}`);
    return value;
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.map.get(key);
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'boolean') {
      throw this.error(key, `expected true or false, got ${describe(value)}`);
    }
    return value;
  }

  integer(key: string, fallback: number): number {
    const value = this.map.get(key);
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      throw this.error(key, `expected a whole number, got ${describe(value)}`);
    }
    return value;
  }

  /** Go's time.Duration as YAML gives it ("1m30s", "250ms", or nanoseconds), in ms. */
  goDuration(key: string): number | undefined {
    const value = this.map.get(key);
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'number') {
      if (Number.isSafeInteger(value) && value >= 0) return value / 1e6;
    } else if (value === '0') {
      return 0;
    } else if (typeof value === 'string' && !/^\s*[\d.]+\s*$/.test(value)) {
      // Go's durations always carry a unit: a bare number here is a mistake.
      const ms = durationMs(value);
      if (Number.isFinite(ms)) return ms;
    }
    throw this.error(key, `${describe(value)} is not a duration such as 1s, 500ms or 1m30s`);
  }

  strings(key: string): string[] | undefined {
    const value = this.map.get(key);
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
      throw this.error(key, `expected a list of strings, got ${describe(value)}`);
    }
    return value as string[];
  }

  private where(key: string): string {
    return this.prefix === '' ? key : `${this.prefix}.${key}`;
  }
}

function asMap(source: string, value: unknown, where: string): Map<string, unknown> {
  if (value === undefined || value === null) return new Map();
  if (!(value instanceof Map)) {
    throw new UsageError(`${source}: ${escapeControls(where)} must be a mapping of keys to values`);
  }
  const map = new Map<string, unknown>();
  for (const [key, item] of value as Map<unknown, unknown>) {
    // YAML allows any scalar as a key (a user named 1234); structures are nonsense here.
    if (typeof key === 'object' && key !== null) {
      throw new UsageError(
        `${source}: ${escapeControls(where)} has a key that is not a plain name`,
      );
    }
    map.set(String(key), item);
  }
  return map;
}

/** A value from the file in a message: quoted, and on one line whatever it holds. */
export function quote(text: string): string {
  return `'${escapeControls(text)}'`;
}

// Control characters: a line break in a message would split its one line.
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\x00-\x1f\x7f]/g;

function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Map) return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}
