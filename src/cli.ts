#!/usr/bin/env node
import yargs, { Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';

import { withConfigLayers, withOrigin } from './config/command';
import { watchNetworkNamespace } from './conntrack/netns';
import { exitWithError, UsageError, UserError } from './errors';
import { describeEvents, EventsArgs, eventsConfig, eventsOptions } from './events/options';
import { ExporterConfig, RunningExporter, startExporter } from './exporter';
import { formatDuration, HostArgs, hostLabelConfig, hostOptions } from './host-options';
import { createLogger } from './log';
import { LongtermArgs, longtermConfig, longtermOptions } from './longterm-options';
import { HostFilter } from './model/host-filter';
import { checkBindAddress, checkPath, checkPort, listOf } from './options';
import { proxyCommand } from './proxy/command';

const proxyBuilder = proxyCommand.builder as (y: Argv) => Argv;
import { VERSION } from './version';

const PROGRAM = 'conntrack-exporter';

async function runExporter(
  argv: {
    listenPort: number;
    bindAddress: string;
    listenPath: string;
    ignoreHosts?: string | string[];
    includeOwnPort: boolean;
    legacyMetricNames: boolean;
    debug: boolean;
    'web.config.file'?: string;
    netns?: string;
  } & HostArgs &
    EventsArgs &
    LongtermArgs,
): Promise<void> {
  const ignoreHosts = listOf(argv.ignoreHosts);
  const ignoreFilter = HostFilter.parse(ignoreHosts);
  const events = eventsConfig(argv);
  const config: ExporterConfig = {
    listenPort: argv.listenPort,
    bindAddress: checkBindAddress(argv.bindAddress, '--bind-address'),
    listenPath: checkPath(argv.listenPath, '--listen-path'),
    ignoreHosts: ignoreFilter,
    includeOwnPort: argv.includeOwnPort,
    legacyMetricNames: argv.legacyMetricNames,
    hosts: hostLabelConfig(argv, ignoreFilter),
    events,
    // Empty means none, as in exporter-toolkit.
    webConfigFile: argv['web.config.file'] || undefined,
    longterm: longtermConfig(argv),
  };
  const { dns, groupBy } = config.hosts;
  const log = createLogger(PROGRAM, argv.debug);
  const started = handleSignals(log);
  // Before anything reads the table: every later socket is opened there.
  if (argv.netns !== undefined) watchNetworkNamespace(argv.netns);
  const exporter = await startExporter(config, log, {
    'listen port': config.listenPort,
    'bind address': config.bindAddress,
    'metrics path': config.listenPath,
    'ignored hosts': ignoreHosts.length === 0 ? 'none' : ignoreHosts,
    'own port counted': config.includeOwnPort,
    'legacy metric names': config.legacyMetricNames,
    'host names': dns
      ? `reverse DNS: TTL ${formatDuration(dns.ttlMs)}, negative TTL ${formatDuration(dns.negativeTtlMs)}, ` +
        `timeout ${formatDuration(dns.timeoutMs)}, budget ${formatDuration(dns.budgetMs)}, ` +
        `${dns.maxInFlight} lookups at once`
      : 'addresses (--no-resolve-hosts)',
    'hosts grouped by': groupBy ? `/${groupBy.ipv4} (IPv4), /${groupBy.ipv6} (IPv6)` : 'no',
    'max hosts': config.hosts.maxHosts,
    'max ports per host': config.hosts.maxPortsPerHost,
    ...describeEvents(events),
    'web config file': config.webConfigFile ?? 'none',
    'network namespace watched': argv.netns ?? "the exporter's own",
    'long-term connections': config.longterm
      ? `established at least ${config.longterm.minAgeSeconds} s` +
        `${config.longterm.port === undefined ? '' : `, port ${config.longterm.port}`}` +
        `${config.longterm.includeIPv6 ? '' : ', IPv4 only'}${config.longterm.simple ? ', one total' : ''}`
      : 'off (--longterm)',
  });
  started(exporter);
}

/**
 * Signal handling, installed before start-up so that a signal during it
 * (e.g. right after "serving metrics" is logged) is handled too. SIGTERM and
 * SIGINT stop the exporter within a bound (a second one stops at once, by
 * the default action); SIGHUP re-reads what can be re-read.
 */
function handleSignals(log: ReturnType<typeof createLogger>): (exporter: RunningExporter) => void {
  let running: RunningExporter | undefined;
  const stop = (signal: string) => {
    log.info(`${signal} received, stopping`);
    // A scrape in progress may hold the server open; do not wait for ever.
    setTimeout(() => process.exit(0), 5_000).unref();
    if (running === undefined) process.exit(0);
    void running.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // Without a handler, SIGHUP would end the process.
  process.on('SIGHUP', () => {
    if (running) running.reload();
    else log.info('SIGHUP during start-up ignored');
  });
  return (exporter) => {
    running = exporter;
  };
}

function exporterOptions(y: Argv) {
  return y
    .option('listen-port', {
      alias: 'listen',
      default: 9318,
      requiresArg: true,
      // Checked here rather than with type: 'number', which turns "http" into NaN.
      coerce: (value: unknown) => checkPort(value, '--listen-port'),
      describe: 'port to serve metrics on',
    })
    .option('bind-address', {
      type: 'string',
      default: '0.0.0.0',
      describe: 'address to serve metrics on (IPv4 or IPv6, e.g. ::)',
    })
    .option('listen-path', {
      type: 'string',
      default: '/metrics',
      describe: 'URL path of the metrics',
    })
    .option('ignore-hosts', {
      type: 'string',
      describe:
        'comma-separated IPs, ip:port pairs, CIDR networks and host names (db-1.internal, *.internal) to leave out',
    })
    .option('include-own-port', {
      type: 'boolean',
      default: false,
      describe: "count connections to the exporter's own listen port too",
    })
    .option('legacy-metric-names', {
      type: 'boolean',
      default: false,
      describe:
        "emit the original conntrack_exporter's metric names (conntrack_*_connections_total{host})",
    })
    .option('debug', { type: 'boolean', default: false, describe: 'log debug messages' })
    .option('netns', {
      type: 'string',
      requiresArg: true,
      describe:
        "watch another network namespace's table: /var/run/netns/NAME or /proc/PID/ns/net (needs CAP_SYS_ADMIN)",
    })
    .option('web.config.file', {
      type: 'string',
      requiresArg: true,
      describe: 'exporter-toolkit web config (YAML): TLS, basic auth, headers; re-read on SIGHUP',
    });
}

/**
 * yargs names an unknown option twice, as given and camel-cased
 * ("Unknown arguments: listen-prot, listenProt"); users typed only the first.
 */
function withoutCamelCaseTwins(message: string): string {
  const match = /^Unknown arguments?: (.*)$/.exec(message);
  if (!match?.[1]) return message;
  const names = match[1].split(', ');
  const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const typed = names.filter((name) => !(/[A-Z]/.test(name) && names.includes(kebab(name))));
  return `unknown option${typed.length > 1 ? 's' : ''} ${typed.map((n) => (n.length > 1 ? `--${n}` : `-${n}`)).join(', ')}`;
}

/** Environment variables of the default command; the proxy's start with PROXY_PREFIX. */
export const ENV_PREFIX = 'CONNTRACK_EXPORTER_';
export const PROXY_ENV_PREFIX = 'CONNTRACK_EXPORTER_PROXY_';

export async function main(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  // Where each setting from the environment or a file came from, to name it in errors.
  const origins = new Map<string, string>();
  try {
    await parse(args, env, origins);
  } catch (error) {
    if (error instanceof UsageError) throw new UsageError(withOrigin(error.message, origins));
    throw error;
  }
}

async function parse(
  args: string[],
  env: NodeJS.ProcessEnv,
  origins: Map<string, string>,
): Promise<void> {
  await yargs(args)
    .scriptName(PROGRAM)
    .usage('$0 [options]\n\nExports the kernel conntrack table as Prometheus metrics.')
    .command(
      '$0',
      'serve connection metrics per remote host (the default)',
      (y) =>
        withConfigLayers(longtermOptions(eventsOptions(hostOptions(exporterOptions(y)))), {
          args,
          env,
          prefix: ENV_PREFIX,
          otherPrefixes: [PROXY_ENV_PREFIX],
          origins,
        }),
      (argv) => runExporter(argv),
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
      const text = withoutCamelCaseTwins(message ?? error?.message ?? 'invalid arguments');
      throw new UsageError(text.includes('; ') ? text : `${text}; see --help`);
    })
    .parseAsync();
}

if (require.main === module) {
  main(hideBin(process.argv)).catch((error: unknown) => exitWithError(PROGRAM, error));
}
