import { Registry } from './prom-client';
import { EnvironmentError, UsageError, type UserError } from '../errors';
import type { Logger } from '../log';
import { formatHostPort, type HostPort } from './address';
import type { ProxyConfig } from '../options/proxy';
import { formatDuration } from '../options/duration';
import { registerLegacyProxyMetrics } from './legacy-metrics';
import { registerProxyMetrics } from './metrics';
import { closeMetricsServer, serverAddress, startMetricsServer } from './metrics-server';
import { drainOnSignal } from './shutdown';
import { reloadOnSignal } from '../http/reload';
import { loadWebConfig } from '../http/web-config';
import { TcpProxy } from './tcp-proxy';
import { ProxyTraffic } from './traffic';

/**
 * Runs the proxy until a signal has drained it; resolves with the exit
 * code. Throws a UserError when an address cannot be bound.
 */
export async function runProxy(config: ProxyConfig, log: Logger): Promise<number> {
  const traffic = new ProxyTraffic();
  const registry = new Registry();
  const register = config.flavour === 'legacy' ? registerLegacyProxyMetrics : registerProxyMetrics;
  const instruments = register(registry, traffic, config.id);
  const proxy = new TcpProxy({
    target: config.target,
    dialTimeoutMs: config.dialTimeoutMs,
    workers: config.workers,
    traffic,
    log,
  });
  const flag = (name: string): string => `${config.flagDash}${name}`;
  // A mistake in the file is bad input: refused before anything listens.
  const web = config.webConfigFile === undefined ? undefined : loadWebConfig(config.webConfigFile);

  const listening = await proxy
    .listen(config.listen)
    .catch((error: unknown) => Promise.reject(bindFailure(error, flag('listen'), config.listen)));
  const metricsServer = await startMetricsServer({
    address: config.metrics,
    path: config.metricsPath,
    registry,
    instruments,
    web,
    onError: (error) => log.error(`metrics server: ${error.message}`),
  }).catch((error: unknown) => {
    proxy.stopAccepting();
    return Promise.reject(bindFailure(error, flag('metrics'), config.metrics));
  });
  const metricsAt = serverAddress(metricsServer);

  const listenAt = formatHostPort({ host: listening.address, port: listening.port });
  const scheme = web?.tls ? 'https' : 'http';
  const metricsUrl = `${scheme}://${formatHostPort({ host: metricsAt.address, port: metricsAt.port })}${config.metricsPath ?? '/ (every path)'}`;
  log.info(
    `proxying ${listenAt} to ${formatHostPort(config.target)}; metrics on ${metricsUrl} ` +
      `(id ${config.id}, dial timeout ${formatDuration(config.dialTimeoutMs)}, ` +
      `${config.workers} relay thread${config.workers === 1 ? '' : 's'})`,
  );
  // As the exporter: SIGHUP re-reads the web config (renewed certificates,
  // changed users). Without one, SIGHUP keeps its default, as before.
  const reload = () => reloadOnSignal(metricsServer, config.webConfigFile, log);
  if (config.webConfigFile !== undefined) process.on('SIGHUP', reload);
  const exitCode = await drainOnSignal(proxy, config.drainTimeoutMs, log);
  process.off('SIGHUP', reload);
  await closeMetricsServer(metricsServer);
  return exitCode;
}

/** A bind error as one line the user can act on; other errors pass through. */
export function bindFailure(error: unknown, flag: string, address: HostPort): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const where = `${flag} ${formatHostPort(address)}`;
  const failure = (Kind: new (message: string) => UserError, why: string): UserError =>
    new Kind(`${where}: ${why}`);
  switch (code) {
    case 'EADDRINUSE':
      return failure(UsageError, 'address already in use');
    case 'EADDRNOTAVAIL':
      return failure(UsageError, 'no such address on this host');
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
    case 'EAI_FAIL':
      return failure(UsageError, 'cannot resolve the host name');
    case 'EACCES':
      return failure(
        EnvironmentError,
        'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)',
      );
    default:
      return error;
  }
}
