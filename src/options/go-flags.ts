import { UsageError } from '../errors';

/** One flag of a Go-style command line. */
export interface GoFlagSpec {
  name: string;
  usage: string;
  /** A Go bool flag: `-name` alone means true; a value needs `-name=value`. */
  boolean?: boolean;
  /** Shown in the usage text; undefined for a flag without a default. */
  defaultValue?: string;
}

export type GoFlagResult = { help: true } | { help: false; values: Map<string, string> };

/**
 * Parses arguments the way Go's `flag` package does, so command lines
 * written for the Go proxy work unchanged: `-name=value`, `-name value`,
 * the same with `--`, `--` ends the flags, `-h`/`-help` asks for usage, a
 * repeated flag keeps its last value. One leniency: a value wrapped in a
 * pair of quotes loses them, for manifests that pass `-listen="…"` without
 * a shell to strip them (no address contains quotes).
 */
export function parseGoFlags(args: readonly string[], specs: readonly GoFlagSpec[]): GoFlagResult {
  const known = new Set(specs.map((spec) => spec.name));
  const values = new Map<string, string>();
  let index = 0;
  while (index < args.length) {
    const arg = args[index] ?? '';
    if (arg.length < 2 || !arg.startsWith('-')) break;
    index++;
    if (arg === '--') break;
    const dashes = arg.startsWith('--') ? 2 : 1;
    let name = arg.slice(dashes);
    if (name === '' || name.startsWith('-') || name.startsWith('=')) {
      throw new UsageError(`bad flag syntax: ${arg}`);
    }
    let value: string | undefined;
    const equals = name.indexOf('=');
    if (equals > 0) {
      value = name.slice(equals + 1);
      name = name.slice(0, equals);
    }
    if (!known.has(name)) {
      if (name === 'h' || name === 'help') return { help: true };
      throw new UsageError(`flag provided but not defined: -${name}`);
    }
    if (value === undefined && specs.find((spec) => spec.name === name)?.boolean) {
      value = 'true';
    }
    if (value === undefined) {
      if (index >= args.length) throw new UsageError(`flag needs an argument: -${name}`);
      value = args[index++] ?? '';
    }
    values.set(name, unquote(value));
  }
  if (index < args.length) {
    throw new UsageError(
      `unexpected argument ${JSON.stringify(args[index])}; every option is a -flag`,
    );
  }
  return { help: false, values };
}

function unquote(value: string): string {
  const first = value[0];
  if (value.length >= 2 && (first === '"' || first === "'") && value.endsWith(first)) {
    return value.slice(1, -1);
  }
  return value;
}

/** Usage text in the layout of Go's flag.PrintDefaults. */
export function goFlagUsage(program: string, specs: readonly GoFlagSpec[]): string {
  const lines = [`Usage of ${program}:`];
  for (const spec of specs) {
    lines.push(spec.boolean ? `  -${spec.name}` : `  -${spec.name} string`);
    const suffix =
      spec.defaultValue === undefined ? '' : ` (default ${JSON.stringify(spec.defaultValue)})`;
    lines.push(`    \t${spec.usage}${suffix}`);
  }
  return `${lines.join('\n')}\n`;
}
