import http from 'node:http';

import { Registry } from 'prom-client';

import { registerConnectionGauges } from './collectors/connections';
import { registerSelfMetrics } from './collectors/self';
import { Snapshot, SnapshotSource } from './collectors/snapshot';
import { ConntrackError, dump, libraryVersion } from './conntrack';
import { explainReadError } from './conntrack/explain';
import { readTableUsage } from './conntrack/table-usage';
import { EnvironmentError } from './errors';
import { createMetricsServer, listen } from './http/server';
import { Logger } from './log';
import { aggregate } from './model/aggregate';
import { HostFilter } from './model/host-filter';
import { localAddresses } from './model/local-addresses';
import { VERSION } from './version';

export interface ExporterConfig {
  listenPort: number;
  bindAddress: string;
  listenPath: string;
  ignoreHosts: HostFilter;
  includeOwnPort: boolean;
  legacyMetricNames: boolean;
}

export interface RunningExporter {
  server: http.Server;
  close(): Promise<void>;
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
  // Read the table once before listening, so a missing privilege or module
  // is one message at start, not a failing scrape later.
  try {
    await dump();
  } catch (error) {
    throw new EnvironmentError(explainReadError(error as ConntrackError));
  }
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

  const ownPort = config.includeOwnPort ? undefined : config.listenPort;
  const source = new SnapshotSource(async (): Promise<Snapshot> => {
    const started = process.hrtime.bigint();
    const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      const [entries, usage] = await Promise.all([dump(), readTableUsage()]);
      const groups = aggregate(entries, {
        localAddresses: localAddresses(),
        ownPort,
        ignore: config.ignoreHosts,
      });
      log.debug(`read ${entries.length} TCP entries into ${groups.size} series groups`);
      return { groups, table: usage, durationSeconds: elapsed() };
    } catch (error) {
      log.error(explainReadError(error as ConntrackError));
      return { error: error as Error, durationSeconds: elapsed() };
    }
  });

  const registry = new Registry();
  registerConnectionGauges(registry, source, config.legacyMetricNames);
  registerSelfMetrics(
    registry,
    source,
    { version: VERSION, libnetfilterConntrack: libraryVersion() },
    table !== undefined,
  );

  const server = createMetricsServer({
    registry,
    path: config.listenPath,
    title: 'conntrack-exporter',
    settings,
    onError: (error) => log.error(`scrape failed: ${error.message}`),
  });
  await listen(server, config.listenPort, config.bindAddress);
  const host = config.bindAddress.includes(':') ? `[${config.bindAddress}]` : config.bindAddress;
  log.info(
    `version ${VERSION} serving metrics on http://${host}:${config.listenPort}${config.listenPath}`,
  );

  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
