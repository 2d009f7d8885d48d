/**
 * The default command, serving conntrack metrics: its options and what it
 * runs. Loaded by src/cli.ts only when that command is chosen (or for
 * --help), so `conntrack-exporter proxy` does not carry the exporter's
 * modules (resident memory it would hold for nothing; the proxy's RSS is in
 * BENCHMARKS.md).
 */
import { Argv } from 'yargs';

import { watchNetworkNamespace } from './conntrack/netns';
import { describeEvents, EventsArgs, eventsConfig, eventsOptions } from './events/options';
import { ExporterConfig, RunningExporter, startExporter } from './exporter';
import { formatDuration, HostArgs, hostLabelConfig, hostOptions } from './host-options';
import { createLogger } from './log';
import { LongtermArgs, longtermConfig, longtermOptions } from './longterm-options';
import { HostFilter } from './model/host-filter';
import { checkBindAddress, checkPath, checkPort, listOf } from './options';

const PROGRAM = 'conntrack-exporter';

/** Every option of the default command, before the config layers. */
export function exporterCommandOptions(y: Argv) {
  return longtermOptions(eventsOptions(hostOptions(exporterOptions(y))));
}

export async function runExporter(
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
