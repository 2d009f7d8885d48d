import type { Argv, CommandModule } from 'yargs';
import { exitWithError } from '../errors';
import { createLogger } from '../log';
import { buildProxyConfig, ProxyFlags, proxyOptions } from '../options/proxy';
import type * as Run from './run';

const PROGRAM = 'conntrack-exporter';

/**
 * `conntrack-exporter proxy`: the TCP proxy mode. Required flags are checked
 * in the handler, not by yargs, so that a missing one ends like every other
 * bad input: one line and exit code 2.
 */
export const proxyCommand: CommandModule<object, ProxyFlags> = {
  command: 'proxy',
  describe: 'Forward TCP connections to a target and export connection and byte metrics',
  builder: (yargs: Argv): Argv<ProxyFlags> =>
    proxyOptions(yargs).example(
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
          webConfigFile: argv['web.config.file'],
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
