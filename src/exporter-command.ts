/**
 * The default command, serving conntrack metrics: what it runs (its options
 * are in options/exporter.ts). Loaded by src/cli.ts only when that command
 * is chosen (or for --help), so `conntrack-exporter proxy` does not carry
 * the exporter's modules (resident memory it would hold for nothing; the
 * proxy's RSS is in BENCHMARKS.md).
 */
import { watchNetworkNamespace } from './conntrack/netns';
import { ExporterConfig, RunningExporter, startExporter } from './exporter';
import { createLogger } from './log';
import { HostFilter } from './model/host-filter';
import { checkBindAddress, checkNamespaceFile, checkPath, listOf } from './options/checks';
import { formatDuration } from './options/duration';
import { optInCollectors } from './options/collectors';
import { CommandDefaults, ExporterArgs, OWN_DEFAULTS } from './options/exporter';
import { hostLabelConfig } from './options/host-labels';
import { longtermConfig } from './options/longterm';
import { metricLayoutOf } from './options/metric-layout';
import { describeEvents, eventsConfig } from './options/table-reading';
import { trafficConfig } from './options/traffic';

const PROGRAM = 'conntrack-exporter';

export async function runExporter(
  argv: ExporterArgs,
  defaults: CommandDefaults = OWN_DEFAULTS,
): Promise<void> {
  const ignoreHosts = listOf(argv.ignoreHosts);
  const ignoreFilter = HostFilter.parse(ignoreHosts);
  const collectors = optInCollectors(argv);
  const events = eventsConfig(argv, collectors);
  const config: ExporterConfig = {
    listenPort: argv.listenPort,
    bindAddress: checkBindAddress(argv.bindAddress, '--bind-address'),
    listenPath: checkPath(argv.listenPath, '--listen-path'),
    ignoreHosts: ignoreFilter,
    includeOwnPort: argv.includeOwnPort,
    metricLayout: metricLayoutOf(argv.metricLayout, argv.legacyMetricNames, defaults.metricLayout),
    hosts: hostLabelConfig(argv, ignoreFilter),
    events,
    // Empty means none, as in exporter-toolkit.
    webConfigFile: argv['web.config.file'] || undefined,
    longterm: longtermConfig(argv),
    collectors,
    traffic: trafficConfig(argv, collectors),
  };
  const { dns, groupBy } = config.hosts;
  const log = createLogger(PROGRAM, argv.debug);
  const started = handleSignals(log);
  // Before anything reads the table: every later socket is opened there.
  if (argv.netns !== undefined) watchNetworkNamespace(checkNamespaceFile(argv.netns, '--netns'));
  const exporter = await startExporter(config, log, {
    'listen port': config.listenPort,
    'bind address': config.bindAddress,
    'metrics path': config.listenPath,
    'ignored hosts': ignoreHosts.length === 0 ? 'none' : ignoreHosts,
    'own port counted': config.includeOwnPort,
    'metric layout': config.metricLayout,
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
    'opt-in collectors': collectors.size === 0 ? 'none' : [...collectors],
    'traffic counters': describeTraffic(config),
  });
  started(exporter);
}

function describeTraffic({ traffic, events }: ExporterConfig): string {
  if (traffic === undefined) return 'off (--collector.traffic)';
  if (events?.mode === 'dump') return 'on, read at each scrape';
  const interval = traffic.readIntervalMs;
  return interval === 0
    ? 'on, when connections end'
    : `on, live connections read every ${formatDuration(interval)}`;
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
