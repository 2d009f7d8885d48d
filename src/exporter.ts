import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';

import { registerCollectors } from './collectors';
import { Exposition } from './collectors/exposition';
import { LongtermConfig } from './collectors/longterm';
import { ScrapeSource } from './collectors/scrape';
import { scrapeTiming } from './collectors/scrape-timing';
import { ConntrackEntry, ConntrackError, dump, libraryVersion } from './conntrack';
import { explainReadError } from './conntrack/explain';
import { watchedNetworkNamespace } from './conntrack/netns';
import { kernelTimestampsOn, readTableUsage } from './conntrack/table-usage';
import { EnvironmentError } from './errors';
import { MetricLayout } from './options/metric-layout';
import { EventsConfig } from './options/table-reading-config';
import { OptInCollector } from './options/collectors';
import { startEventsMode } from './events/start';
import { HostLabelConfig } from './options/host-label-config';
import { reloadOnSignal } from './http/reload';
import { createMetricsServer, listen, MetricsServer } from './http/server';
import { gzipBody } from './http/shared-render';
import { loadWebConfig } from './http/web-config';
import { Logger } from './log';
import { DnsCache, systemReverseLookup } from './model/dns-cache';
import { HostFilter } from './model/host-filter';
import { ownExcessPrivilegeWarning } from './privilege';
import { DumpReader } from './table/dump-reader';
import { EventsReader } from './table/events-reader';
import { VERSION } from './version';
import { startTraffic, Traffic } from './table/traffic';
import { TrafficConfig } from './options/traffic';
import { accountingOn, describeAccounting } from './conntrack/accounting';
import { localAddresses } from './model/local-addresses';

export interface ExporterConfig {
  listenPort: number;
  bindAddress: string;
  listenPath: string;
  ignoreHosts: HostFilter;
  includeOwnPort: boolean;
  metricLayout: MetricLayout;
  hosts: HostLabelConfig;
  /** How the table is read; without it, a dump at every scrape. */
  events?: EventsConfig;
  /** exporter-toolkit's web config: TLS, basic auth, headers, rate limit. */
  webConfigFile?: string;
  /** The long-term connections metric; off when undefined. */
  longterm?: LongtermConfig;
  /** Serve the long-term metric alone (the tcp_established_exporter drop-in). */
  longtermOnly?: boolean;
  /** Collectors that are off by default, switched on (--collector.<name>). */
  collectors?: ReadonlySet<OptInCollector>;
  /** The traffic counters (--collector.traffic); off when undefined. */
  traffic?: TrafficConfig;
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
  const { events, startRead } = await startReading(
    config.events,
    { ownPort, ignore: config.ignoreHosts },
    log,
  );
  const traffic: Traffic | undefined =
    config.traffic &&
    (await startTraffic(
      config.traffic,
      events,
      startRead,
      () => ({ localAddresses: localAddresses(), ownPort, ignore: config.ignoreHosts }),
      log,
    ));
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
  // Traffic in events mode comes from its own reads and DESTROY events, not
  // from the fallback's reads.
  const dumpTraffic = events ? undefined : traffic;
  const dumpReader = new DumpReader({
    ownPort,
    ignore: config.ignoreHosts,
    longterm,
    traffic: dumpTraffic,
    log,
  });
  const reader = events
    ? new EventsReader(events, dumpReader, { longterm, traffic, log })
    : dumpReader;
  const { dns } = config.hosts;
  const names = dns && new DnsCache({ ...dns, lookup: systemReverseLookup(dns.timeoutMs) });
  const source = new ScrapeSource(reader, config.hosts, config.ignoreHosts, names);

  const registry = new Registry();
  const exposition = new Exposition(registry);
  const kernelTimestamps = await kernelTimestampsOn();
  registerCollectors({
    registry,
    exposition,
    source,
    mode: events ? 'events' : 'dump',
    logEvents: events?.eventLog !== undefined,
    metricLayout: config.metricLayout,
    resolving: names !== undefined,
    tableReadable: table !== undefined,
    build: { version: VERSION, libnetfilterConntrack: libraryVersion() },
    longterm: config.longterm && {
      config: config.longterm,
      ageSource: kernelTimestamps ? 'kernel-timestamp' : 'first-seen',
    },
    longtermOnly: config.longtermOnly ?? false,
    log,
    optIn: config.collectors ?? new Set(),
    traffic: traffic !== undefined,
    linkHealth: events?.linkHealth !== undefined,
    kernelTimestamps,
  });

  const server = createMetricsServer({
    registry: exposition,
    path: config.listenPath,
    title: 'conntrack-exporter',
    // Whether the kernel counts traffic can change while the exporter runs.
    settings: { ...settings, 'traffic accounting': () => describeAccounting(accountingOn()) },
    onError: (error) => log.error(`scrape failed: ${error.message}`),
    web,
    compress: timedGzip(),
  });
  await listen(server, config.listenPort, config.bindAddress, '--listen-port', (error) =>
    log.error(`HTTP server: ${error.message}`),
  );
  // What was bound: '::' can have fallen back to 0.0.0.0 on a host without IPv6.
  const bound = (server.address() as AddressInfo).address;
  const host = bound.includes(':') ? `[${bound}]` : bound;
  const scheme = web?.tls ? 'https' : 'http';
  const auth = web && web.users.size > 0 ? ' (basic auth)' : '';
  log.info(
    `version ${VERSION} serving metrics on ${scheme}://${host}:${config.listenPort}${config.listenPath}${auth}`,
  );

  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        traffic?.close();
        events?.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    reload: () => reloadOnSignal(server, config.webConfigFile, log),
  };
}

/** Events mode started (its first read done), or undefined after dump mode's check read, which is `startRead`. */
async function startReading(
  config: EventsConfig | undefined,
  classify: Parameters<typeof startEventsMode>[1],
  log: Logger,
): Promise<{
  events: Awaited<ReturnType<typeof startEventsMode>>;
  startRead?: ConntrackEntry[];
}> {
  try {
    const events = config && (await startEventsMode(config, classify, log));
    return { events, startRead: events === undefined ? await dump() : undefined };
  } catch (error) {
    throw new EnvironmentError(explainReadError(error as ConntrackError));
  }
}

/** gzip timed as a part of the scrape when that timing is on (see scrape-timing.ts). */
function timedGzip(): ((body: Buffer) => Buffer) | undefined {
  const timing = scrapeTiming;
  return timing && ((body) => timing.time('gzip', () => gzipBody(body)));
}
