import type { Argv, CommandModule } from 'yargs';
import { exitWithError } from '../errors';
import { createLogger } from '../log';
import {
  buildProxyConfig,
  DEFAULT_DIAL_TIMEOUT,
  DEFAULT_DRAIN_TIMEOUT,
  DEFAULT_METRICS_PATH,
  MAX_WORKERS,
} from './config';
import type * as Run from './run';

const PROGRAM = 'conntrack-exporter';

export interface ProxyArgs {
  listen?: string;
  target?: string;
  metrics?: string;
  'metrics-path'?: string;
  id?: string;
  'dial-timeout'?: string;
  'drain-timeout'?: string;
  workers?: string;
}

/**
 * `conntrack-exporter proxy`: the TCP proxy mode. Required flags are checked
 * in the handler, not by yargs, so that a missing one ends like every other
 * bad input: one line and exit code 2.
 */
export const proxyCommand: CommandModule<object, ProxyArgs> = {
  command: 'proxy',
  describe: 'Forward TCP connections to a target and export connection and byte metrics',
  builder: (yargs: Argv): Argv<ProxyArgs> =>
    yargs
      .option('listen', {
        type: 'string',
        describe: 'Accept connections on HOST:PORT (:PORT for every interface)',
      })
      .option('target', { type: 'string', describe: 'Forward each connection to HOST:PORT' })
      .option('metrics', { type: 'string', describe: 'Serve metrics on HOST:PORT' })
      .option('metrics-path', {
        type: 'string',
        describe: 'Path of the metrics page',
        default: DEFAULT_METRICS_PATH,
      })
      .option('id', {
        type: 'string',
        describe: 'Value of the id label on every metric [default: a random UUID]',
      })
      .option('dial-timeout', {
        type: 'string',
        describe: 'Give up connecting to the target after this long',
        default: DEFAULT_DIAL_TIMEOUT,
      })
      .option('drain-timeout', {
        type: 'string',
        describe: 'On SIGTERM/SIGINT, reset connections still open after this long (0: no limit)',
        default: DEFAULT_DRAIN_TIMEOUT,
      })
      .option('workers', {
        type: 'string',
        describe: `Relay threads to spread connections over, 1-${MAX_WORKERS} [default: one per core]`,
      })
      .example(
        '$0 proxy --listen :3000 --target 127.0.0.1:3001 --metrics :9090',
        'Proxy port 3000 to a local service and serve metrics on port 9090',
      ),
  handler: async (argv) => {
    try {
      const config = buildProxyConfig(
        {
          listen: argv.listen,
          target: argv.target,
          metrics: argv.metrics,
          metricsPath: argv['metrics-path'],
          id: argv.id,
          dialTimeout: argv['dial-timeout'],
          drainTimeout: argv['drain-timeout'],
          workers: argv.workers,
        },
        'conventional',
        '--',
      );
      // The relay, its metrics and server are loaded only when the proxy
      // runs: every command's parser is built at start, and the exporter
      // would otherwise hold the proxy's modules for nothing.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { runProxy } = require('./run') as typeof Run;
      process.exit(await runProxy(config, createLogger(PROGRAM)));
    } catch (error) {
      exitWithError(PROGRAM, error);
    }
  },
};
