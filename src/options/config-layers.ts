import { Argv } from 'yargs';
import yargsParser from 'yargs-parser';

import { UsageError } from '../errors';
import { readEnvironment, variableFor } from './environment';
import { readConfigFile } from './config-file';
import { layer, OptionKind, OptionShape } from './layers';

export interface LayerContext {
  /** The command line as given (without node and the script). */
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  /** Environment variables naming this command's options: PREFIX_LISTEN_PORT. */
  prefix: string;
  /** Variables with these prefixes belong to other commands and are not checked here. */
  otherPrefixes?: readonly string[];
  /** Filled in: option name -> where its value came from, when not the command line or default. */
  origins?: Map<string, string>;
  /** Options that take a list (given several times, or with commas): their values add up. */
  lists?: readonly string[];
  /** Where --print-config's text goes; by default stdout, then the process exits. */
  printConfig?: (text: string) => void;
}

/** Options that steer the program rather than configure it. */
const NOT_CONFIGURABLE = new Set(['help', 'version', 'config', 'print-config']);

/**
 * Gives every option declared so far on `y` two more sources under the
 * command line: environment variables (`PREFIX_OPTION_NAME`) and a file
 * (`--config FILE`), with the precedence flag > environment > file >
 * default. Adds `--print-config`, which prints the effective configuration
 * and where each value came from. Unknown names and wrong types in the
 * environment or the file are UsageErrors naming their source.
 */
export function withConfigLayers<T>(y: Argv<T>, context: LayerContext) {
  const withOptions = y
    .option('config', {
      type: 'string',
      requiresArg: true,
      describe: 'read options from FILE: "name value" lines, or JSON/YAML by extension',
    })
    .option('print-config', {
      type: 'boolean',
      default: false,
      describe: 'print the effective configuration and where each value came from, then exit',
    });
  // getOptions() is public yargs API, missing from its type definitions.
  const declared = (withOptions as unknown as { getOptions(): DeclaredOptions }).getOptions();
  const shapes = shapesOf(declared, context.lists ?? []);
  const given = givenOnCommandLine(context.args, declared, shapes);

  const file =
    typeof given.configFile === 'string' ? readConfigFile(given.configFile, '--config') : [];
  const ownVariables = Object.fromEntries(
    Object.entries(context.env).filter(
      ([variable]) => !(context.otherPrefixes ?? []).some((other) => variable.startsWith(other)),
    ),
  );
  const environment = readEnvironment(ownVariables, context.prefix);
  const { values, origins } = layer(shapes, file, environment);
  // A flag's own bad value is the command line's, whatever else set it too.
  for (const [name, origin] of origins) {
    if (!given.names.has(name)) context.origins?.set(name, origin);
  }

  return withOptions.config(values).middleware((argv) => {
    if (!argv.printConfig) return;
    // The values as given, before coerce() turned e.g. "5m" into milliseconds,
    // so that the output reads back as a config file with the same meaning.
    const lines = Object.keys(shapes).map((name) => {
      const value = given.names.has(name)
        ? given.values[name]
        : name in values
          ? values[name]
          : declared.default[name];
      const origin = given.names.has(name) ? 'command line' : (origins.get(name) ?? 'default');
      const env = variableFor(context.prefix, name);
      const text =
        value === undefined ? '' : Array.isArray(value) ? value.join(',') : String(value);
      // Commented out, an unset option stays unset when the output is read back.
      if (text === '') return `# ${name}`.padEnd(40) + ` # not set; env ${env}`;
      return `${name} ${text}`.padEnd(40) + ` # ${origin}; env ${env}`;
    });
    const text = `${lines.join('\n')}\n`;
    if (context.printConfig) {
      context.printConfig(text);
      return;
    }
    process.stdout.write(text);
    process.exit(0);
  });
}

/** What yargs' getOptions() tells of the declared options. */
interface DeclaredOptions {
  key: Record<string, unknown>;
  default: Record<string, unknown>;
  alias: Record<string, string[]>;
  array: string[];
  boolean: string[];
  number: string[];
  string: string[];
}

function shapesOf(
  declared: DeclaredOptions,
  lists: readonly string[],
): Record<string, OptionShape> {
  const shapes: Record<string, OptionShape> = {};
  // yargs lists an alias as a key of its own; it is the same option.
  const aliases = new Set(Object.values(declared.alias).flat());
  for (const name of Object.keys(declared.key)) {
    if (NOT_CONFIGURABLE.has(name) || aliases.has(name)) continue;
    const kind: OptionKind =
      declared.array.includes(name) || lists.includes(name)
        ? 'array'
        : declared.boolean.includes(name)
          ? 'boolean'
          : declared.number.includes(name)
            ? 'number'
            : 'string';
    // --web.config.file is WEB_CONFIG_FILE in the environment: no dots there.
    const dashed = name.includes('.') ? [name.replace(/\./g, '-')] : [];
    shapes[name] = { kind, aliases: [...(declared.alias[name] ?? []), ...dashed] };
  }
  return shapes;
}

/** Which options the command line itself gives (so --print-config can say so), and --config. */
function givenOnCommandLine(
  args: readonly string[],
  declared: DeclaredOptions,
  shapes: Record<string, OptionShape>,
): { names: Set<string>; values: Record<string, unknown>; configFile: unknown } {
  const parsed = yargsParser([...args], {
    alias: declared.alias,
    boolean: declared.boolean,
    array: declared.array,
    string: [...declared.string, 'config'],
    configuration: { 'dot-notation': false, 'camel-case-expansion': false },
  });
  const names = new Set(Object.keys(shapes).filter((name) => name in parsed));
  for (const name of names) {
    const value: unknown = parsed[name];
    if (shapes[name]!.kind !== 'array' && Array.isArray(value)) {
      throw new UsageError(
        `--${name} is given more than once on the command line ` +
          `(${value.map((item) => `'${String(item)}'`).join(', ')}); give it once`,
      );
    }
  }
  if (Array.isArray(parsed.config)) {
    throw new UsageError('--config is given more than once on the command line; give one file');
  }
  return { names, values: parsed, configFile: parsed.config };
}

/**
 * Names the source of a bad value that came from the environment or a file:
 * "--listen-port: 'x' is not a port number" becomes
 * "--listen-port (from environment variable X): 'x' is not a port number".
 */
export function withOrigin(message: string, origins: ReadonlyMap<string, string>): string {
  const match = /^--([A-Za-z0-9.-]+): /.exec(message);
  const origin = match ? origins.get(match[1]!) : undefined;
  return origin === undefined ? message : message.replace(/^(--[^:]+): /, `$1 (from ${origin}): `);
}
