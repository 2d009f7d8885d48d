import { Registry } from 'prom-client';

import { connectionGauges } from './collectors/connections';
import { registerEventMetrics } from './collectors/events';
import { registerHostMetrics } from './collectors/hosts';
import { Exposition } from './collectors/exposition';
import { lifecycleCounters } from './collectors/lifecycle';
import { LongtermConfig, registerLongterm } from './collectors/longterm';
import { registerSelfMetrics } from './collectors/self';
import { SeriesSource } from './collectors/series-source';
import { Snapshot, SnapshotSource } from './collectors/snapshot';
import { ConntrackError, dump, libraryVersion } from './conntrack';
import { explainReadError } from './conntrack/explain';
import { watchedNetworkNamespace } from './conntrack/netns';
import { kernelTimestampsOn, readTableUsage } from './conntrack/table-usage';
import { EnvironmentError } from './errors';
import { EventsConfig } from './events/options';
import { startEventsMode } from './events/start';
import { HostLabelConfig } from './host-options';
import { reloadOnSignal } from './http/reload';
import { createMetricsServer, listen, MetricsServer } from './http/server';
import { loadWebConfig } from './http/web-config';
import { Logger } from './log';
import { aggregate } from './model/aggregate';
import { DnsCache, systemReverseLookup } from './model/dns-cache';
import { HostFilter } from './model/host-filter';
import { localAddresses } from './model/local-addresses';
import { countLongterm, dumpCandidates, FirstSeen } from './model/longterm';
import { ownExcessPrivilegeWarning } from './privilege';
import { VERSION } from './version';

export interface ExporterConfig {
  listenPort: number;
  bindAddress: string;
  listenPath: string;
  ignoreHosts: HostFilter;
  includeOwnPort: boolean;
  legacyMetricNames: boolean;
  hosts: HostLabelConfig;
  /** How the table is read; without it, a dump at every scrape. */
  events?: EventsConfig;
  /** exporter-toolkit's web config: TLS, basic auth, headers, rate limit. */
  webConfigFile?: string;
  /** The long-term connections metric; off when undefined. */
  longterm?: LongtermConfig;
  /** Serve the long-term metric alone (the tcp_established_exporter drop-in). */
  longtermOnly?: boolean;
}

export interface RunningExporter {
  server: MetricsServer;
  close(): Promise<void>;
  /** For SIGHUP: re-reads the web config file, or says that nothing is reloaded. */
  reload(): void;
}

/**
 * Checks that the table can be read, then serves metrics. Every failure a
 * user can fix is an EnvironmentError with one clear line.
 */
export async function startExporter(
  config: ExporterConfig,
  log: Logger,
  settings: Record<string, unknown> = {},
): Promise<RunningExporter> {
  // A mistake in the file is bad input: refused before anything else.
  const web = config.webConfigFile === undefined ? undefined : loadWebConfig(config.webConfigFile);
  const ownPort = config.includeOwnPort ? undefined : config.listenPort;
  // A missing privilege or module must be one message at start, not a
  // failing scrape later. Events mode's first read of the table tells that
  // already; only dump mode (chosen, or fallen back to) reads it just to check,
  // so the table is not read, and held, twice at start.
  const events = await startReading(config.events, { ownPort, ignore: config.ignoreHosts }, log);
  const excessPrivilege = ownExcessPrivilegeWarning(
    config.listenPort,
    // Entering another namespace, and finding one by /proc/PID, take these.
    watchedNetworkNamespace() === undefined ? [] : ['CAP_SYS_ADMIN', 'CAP_SYS_PTRACE'],
  );
  if (excessPrivilege !== undefined) log.warn(excessPrivilege);
  const table = await readTableUsage();
  if (table === undefined) {
    log.warn(
      'cannot read /proc/sys/net/netfilter/nf_conntrack_{count,max}; table size metrics are off',
    );
  } else if (table.entries === 0) {
    log.info(
      'the conntrack table is empty: the kernel only tracks connections once a firewall rule uses ' +
        'conntrack (e.g. an nftables "ct state" rule, or iptables -m conntrack)',
    );
  }

  const longterm = config.longterm && {
    minAgeSeconds: config.longterm.minAgeSeconds,
    port: config.longterm.port,
    includeIPv6: config.longterm.includeIPv6,
    ownPort: config.listenPort,
  };
  // Only needed in dump mode without kernel timestamps; empty otherwise.
  const firstSeen = new FirstSeen();
  const source = new SnapshotSource(async (): Promise<Snapshot> => {
    const started = process.hrtime.bigint();
    const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      // The live table answers in O(groups); a failed stream falls back to a dump.
      const live = await events?.usableLive();
      if (live) {
        const [groups, usage] = await Promise.all([live.snapshot(), readTableUsage()]);
        const counts =
          longterm && countLongterm(live.table.longtermCandidates(Date.now() / 1000), longterm);
        return { groups, table: usage, longterm: counts, durationSeconds: elapsed() };
      }
      const [entries, usage] = await Promise.all([dump(), readTableUsage()]);
      const local = localAddresses();
      const groups = aggregate(entries, {
        localAddresses: local,
        ownPort,
        ignore: config.ignoreHosts,
      });
      const counts =
        longterm &&
        countLongterm(
          dumpCandidates(entries, (address) => local.has(address), firstSeen, Date.now()),
          longterm,
        );
      log.debug(`read ${entries.length} TCP entries into ${groups.size} series groups`);
      return { groups, table: usage, longterm: counts, durationSeconds: elapsed() };
    } catch (error) {
      log.error(explainReadError(error as ConntrackError));
      return { error: error as Error, durationSeconds: elapsed() };
    }
  });

  const { dns } = config.hosts;
  const names = dns && new DnsCache({ ...dns, lookup: systemReverseLookup(dns.timeoutMs) });
  const series = new SeriesSource(source, config.hosts, config.ignoreHosts, names);

  const registry = new Registry();
  const exposition = new Exposition(registry);
  if (config.longterm) {
    const ageSource = (await kernelTimestampsOn()) ? 'kernel-timestamp' : 'first-seen';
    registerLongterm(registry, source, config.longterm, ageSource);
  }
  if (!config.longtermOnly) {
    exposition.add(connectionGauges(series, config.legacyMetricNames));
    registerHostMetrics(registry, series, names);
    registerSelfMetrics(
      registry,
      source,
      { version: VERSION, libnetfilterConntrack: libraryVersion() },
      table !== undefined,
    );
    registerEventMetrics(
      registry,
      source,
      events ? 'events' : 'dump',
      events?.live,
      events?.eventLog,
    );
    if (events) exposition.add(lifecycleCounters(source, () => events.live.table.lifecycle()));
  }

  const server = createMetricsServer({
    registry: exposition,
    path: config.listenPath,
    title: 'conntrack-exporter',
    settings,
    onError: (error) => log.error(`scrape failed: ${error.message}`),
    web,
  });
  await listen(server, config.listenPort, config.bindAddress, '--listen-port', (error) =>
    log.error(`HTTP server: ${error.message}`),
  );
  const host = config.bindAddress.includes(':') ? `[${config.bindAddress}]` : config.bindAddress;
  const scheme = web?.tls ? 'https' : 'http';
  const auth = web && web.users.size > 0 ? ' (basic auth)' : '';
  log.info(
    `version ${VERSION} serving metrics on ${scheme}://${host}:${config.listenPort}${config.listenPath}${auth}`,
  );

  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        events?.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    reload: () => reloadOnSignal(server, config.webConfigFile, log),
  };
}

/** Events mode started (its first read done), or undefined after dump mode's check read. */
async function startReading(
  config: EventsConfig | undefined,
  classify: Parameters<typeof startEventsMode>[1],
  log: Logger,
): Promise<Awaited<ReturnType<typeof startEventsMode>>> {
  try {
    const events = config && (await startEventsMode(config, classify, log));
    if (events === undefined) await dump();
    return events;
  } catch (error) {
    throw new EnvironmentError(explainReadError(error as ConntrackError));
  }
}
