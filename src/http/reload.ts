import { Logger } from '../log';
import { MetricsServer, reloadWebConfig } from './server';
import { loadWebConfig } from './web-config';

/**
 * What SIGHUP does: re-reads the web config file (renewed certificates,
 * changed users) and puts it in force; a file with a mistake is reported
 * and the previous config stays. Every other setting is read only at start.
 */
export function reloadOnSignal(
  server: MetricsServer,
  webConfigFile: string | undefined,
  log: Logger,
): void {
  if (webConfigFile === undefined) {
    log.info('SIGHUP: configuration reload is not supported; restart to apply changes');
    return;
  }
  try {
    const web = loadWebConfig(webConfigFile);
    const previous = reloadWebConfig(server, web);
    if (previous !== undefined && previous.users.size > 0 && web.users.size === 0) {
      log.warn(
        `SIGHUP: ${webConfigFile} has no basic_auth_users: basic auth is now off, every client is served without a password`,
      );
    }
    log.info(
      `SIGHUP: reloaded the web config ${webConfigFile}; other settings apply only after a restart`,
    );
  } catch (error) {
    log.error(`SIGHUP: ${(error as Error).message}; the previous web config stays in force`);
  }
}
