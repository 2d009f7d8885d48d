#!/usr/bin/env node
import path from 'node:path';
import yargs, { Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';

import { exitWithError, UsageError, UserError } from './errors';
import type * as ExporterCommand from './exporter-command';
import { withConfigLayers, withOrigin } from './options/config-layers';
import type * as ExporterOptions from './options/exporter';
import type { ProxyFlags } from './options/proxy';
import { expandShortFlags } from './options/short-flags';
import { proxyCommand } from './proxy/command';
import { VERSION } from './version';

const proxyBuilder = proxyCommand.builder as (y: Argv) => Argv<ProxyFlags>;

/**
 * The default command's modules, loaded on first use: the exporter (the
 * collectors, prom-client, the event decoder's tables) is memory that
 * `conntrack-exporter proxy` would otherwise hold for nothing.
 */
function exporterCommand(): typeof ExporterCommand {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./exporter-command') as typeof ExporterCommand;
}
function exporterOptions(): typeof ExporterOptions {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./options/exporter') as typeof ExporterOptions;
}

const PROGRAM = 'conntrack-exporter';
/** The same program installed under the C++ original's name: it takes that one's short flags too. */
const ORIGINAL_NAME = 'conntrack_exporter';

/**
 * yargs' "Unknown arguments" as users wrote them. It names an unknown option
 * twice, as given and camel-cased ("listen-prot, listenProt"), and names a
 * word that is no option at all ("foo") the same way as an option.
 */
function unknownArguments(message: string, args: readonly string[]): string {
  const match = /^Unknown arguments?: (.*)$/.exec(message);
  if (!match?.[1]) return message;
  const names = match[1].split(', ');
  const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const typed = names.filter((name) => !(/[A-Z]/.test(name) && names.includes(kebab(name))));
  const words = typed.filter((name) => args.includes(name));
  const options = typed.filter((name) => !words.includes(name));
  const plural = (list: readonly string[]) => (list.length > 1 ? 's' : '');
  return [
    options.length > 0
      ? `unknown option${plural(options)} ${options.map((n) => (n.length > 1 ? `--${n}` : `-${n}`)).join(', ')}`
      : '',
    words.length > 0
      ? `unexpected argument${plural(words)} ${words.map((word) => `'${word}'`).join(', ')} ` +
        '(settings are given as --name value)'
      : '',
  ]
    .filter((part) => part !== '')
    .join('; ');
}

/** Environment variables of the default command; the proxy's start with PROXY_PREFIX. */
export const ENV_PREFIX = 'CONNTRACK_EXPORTER_';
export const PROXY_ENV_PREFIX = 'CONNTRACK_EXPORTER_PROXY_';

export async function main(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  invokedAs: string = PROGRAM,
): Promise<void> {
  // Where each setting from the environment or a file came from, to name it in errors.
  const origins = new Map<string, string>();
  try {
    // Spelled out before parsing, so every layer (precedence, --print-config) sees the long names.
    const original = invokedAs === ORIGINAL_NAME;
    await parse(original ? expandShortFlags(args) : args, env, origins, original);
  } catch (error) {
    if (error instanceof UsageError) throw new UsageError(withOrigin(error.message, origins));
    throw error;
  }
}

async function parse(
  args: string[],
  env: NodeJS.ProcessEnv,
  origins: Map<string, string>,
  original: boolean,
): Promise<void> {
  const defaults = () => {
    const options = exporterOptions();
    return original ? options.ORIGINAL_DEFAULTS : options.OWN_DEFAULTS;
  };
  await yargs(args)
    .scriptName(PROGRAM)
    .usage('$0 [options]\n\nExports the kernel conntrack table as Prometheus metrics.')
    .command(
      '$0',
      'serve connection metrics per remote host (the default)',
      (y) =>
        withConfigLayers(exporterOptions().exporterCommandOptions(y, defaults()), {
          args,
          lists: exporterOptions().LIST_OPTIONS,
          env,
          prefix: ENV_PREFIX,
          otherPrefixes: [PROXY_ENV_PREFIX],
          origins,
        }),
      (argv) => exporterCommand().runExporter(argv, defaults()),
    )
    .command({
      ...proxyCommand,
      builder: (y) =>
        withConfigLayers(proxyBuilder(y), { args, env, prefix: PROXY_ENV_PREFIX, origins }),
    })
    // --web.config.file is one option, not web: { config: { file } }.
    .parserConfiguration({ 'dot-notation': false })
    .strict()
    .version(VERSION)
    .help()
    .alias('help', 'h')
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((message, error) => {
      if (error instanceof UserError) throw error;
      // yargs reports its own checks, and errors thrown by coerce(), as YError.
      if (error && error.name !== 'YError') throw error;
      // Our own messages already say what to do ("...; use 1 to 65535").
      const text = unknownArguments(message ?? error?.message ?? 'invalid arguments', args);
      throw new UsageError(text.includes('; ') ? text : `${text}; see --help`);
    })
    .parseAsync();
}

if (require.main === module) {
  main(hideBin(process.argv), process.env, path.basename(process.argv[1] ?? '')).catch(
    (error: unknown) => exitWithError(PROGRAM, error),
  );
}
