import { UsageError } from '../errors';
import { Setting } from './setting';

export type OptionKind = 'boolean' | 'number' | 'string' | 'array';

/** What the configuration layer needs to know of one option. */
export interface OptionShape {
  kind: OptionKind;
  aliases?: readonly string[];
}

export interface Layered {
  /** Option name -> value, for yargs' config(): flags still win over these. */
  values: Record<string, unknown>;
  /** Option name -> where its value came from. */
  origins: Map<string, string>;
}

/**
 * Merges the sources, each over the one before (the file's settings, then
 * the environment's: environment wins), after checking each name and
 * converting each value to the option's type. Within one source a list
 * option given several times collects every value, and a scalar given twice
 * (also under two of its names) is an error naming both places: which one
 * was meant is not for us to guess. `no-NAME` sets a boolean NAME to false,
 * as on the command line. Command-line flags are applied over the result by
 * yargs.
 */
export function layer(
  options: Readonly<Record<string, OptionShape>>,
  ...sources: (readonly Setting[])[]
): Layered {
  const canonical = new Map<string, string>();
  for (const [name, shape] of Object.entries(options)) {
    canonical.set(name, name);
    for (const alias of shape.aliases ?? []) canonical.set(alias, name);
  }
  const values: Record<string, unknown> = {};
  const origins = new Map<string, string>();
  for (const source of sources) {
    const given = new Map<string, { value: unknown; origin: string }>();
    for (const setting of source) {
      const { name, value } = resolve(setting, canonical, options);
      const kind = options[name]!.kind;
      const converted = convert({ ...setting, value }, kind);
      const earlier = given.get(name);
      if (earlier === undefined) {
        given.set(name, { value: converted, origin: setting.origin });
      } else if (kind === 'array') {
        earlier.value = [...(earlier.value as unknown[]), ...(converted as unknown[])];
      } else {
        throw new UsageError(
          `${earlier.origin} and ${setting.origin} both set '${name}'; keep one of them`,
        );
      }
    }
    for (const [name, { value, origin }] of given) {
      values[name] = value;
      origins.set(name, origin);
    }
  }
  return { values, origins };
}

/** The option a setting names, and its value: `no-NAME true` is NAME false. */
function resolve(
  setting: Setting,
  canonical: ReadonlyMap<string, string>,
  options: Readonly<Record<string, OptionShape>>,
): { name: string; value: unknown } {
  const name = canonical.get(setting.name);
  if (name !== undefined) return { name, value: setting.value };
  const negated = setting.name.startsWith('no-') ? canonical.get(setting.name.slice(3)) : undefined;
  if (negated !== undefined && options[negated]!.kind === 'boolean') {
    const on = convert(setting, 'boolean');
    return { name: negated, value: !on };
  }
  throw new UsageError(
    `${setting.origin}: unknown option '${setting.name}'; see --help for the options`,
  );
}

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

function convert(setting: Setting, kind: OptionKind): unknown {
  const { value, origin, name } = setting;
  const wrong = (expected: string) =>
    new UsageError(`${origin}: '${name}' must be ${expected}, got '${shown(value)}'`);
  switch (kind) {
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string' && TRUE.has(value.toLowerCase())) return true;
      if (typeof value === 'string' && FALSE.has(value.toLowerCase())) return false;
      throw wrong('true or false');
    case 'number': {
      const number =
        typeof value === 'number'
          ? value
          : typeof value === 'string' && value.trim() !== ''
            ? Number(value)
            : NaN;
      if (!Number.isFinite(number)) throw wrong('a number');
      return number;
    }
    case 'array':
      if (
        Array.isArray(value) &&
        value.every((item) => ['string', 'number'].includes(typeof item))
      ) {
        return value.map(String);
      }
      if (typeof value === 'string' || typeof value === 'number') return [String(value)];
      throw wrong('a list');
    case 'string':
      if (typeof value === 'string' || typeof value === 'number') return String(value);
      throw wrong('a string');
  }
}

/**
 * A value as an error message can show it. String() is not enough: a
 * mapping from a file may have a "toString" key that is not a function.
 */
function shown(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? typeof value;
  } catch {
    return typeof value;
  }
}
