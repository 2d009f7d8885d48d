import { exitWithError } from '../errors';
import { createLogger } from '../log';
import {
  buildProxyConfig,
  DEFAULT_DIAL_TIMEOUT,
  DEFAULT_DRAIN_TIMEOUT,
  DEFAULT_METRICS_PATH,
  MAX_WORKERS,
} from '../options/proxy';
import { goFlagUsage, parseGoFlags, type GoFlagSpec } from '../options/go-flags';
import { runProxy } from './run';

export const DROP_IN_PROGRAM = 'tcp-metrics-proxy';

/** The Go proxy's three flags, then ours, spelled the Go way. */
export const DROP_IN_FLAGS: readonly GoFlagSpec[] = [
  { name: 'listen', usage: 'address to accept connections on, HOST:PORT' },
  { name: 'target', usage: 'address to forward connections to, HOST:PORT' },
  { name: 'metrics', usage: 'address to serve Prometheus metrics on, HOST:PORT' },
  { name: 'metrics-path', usage: 'path of the metrics page', defaultValue: DEFAULT_METRICS_PATH },
  { name: 'id', usage: 'value of the id label (default: a random UUID)' },
  {
    name: 'dial-timeout',
    usage: 'give up connecting to the target after this long',
    defaultValue: DEFAULT_DIAL_TIMEOUT,
  },
  {
    name: 'drain-timeout',
    usage: 'on SIGTERM/SIGINT, reset connections still open after this long (0: no limit)',
    defaultValue: DEFAULT_DRAIN_TIMEOUT,
  },
  {
    name: 'workers',
    usage: `relay threads to spread connections over, 1-${MAX_WORKERS} (default: one per core)`,
  },
];

/** `tcp-metrics-proxy`: the Go proxy's command line and metric names on our proxy. */
export async function runDropIn(args: readonly string[]): Promise<never> {
  try {
    const parsed = parseGoFlags(args, DROP_IN_FLAGS);
    if (parsed.help) {
      process.stdout.write(goFlagUsage(DROP_IN_PROGRAM, DROP_IN_FLAGS));
      process.exit(0);
    }
    const value = (name: string): string | undefined => parsed.values.get(name);
    const config = buildProxyConfig(
      {
        listen: value('listen'),
        target: value('target'),
        metrics: value('metrics'),
        metricsPath: value('metrics-path'),
        id: value('id'),
        dialTimeout: value('dial-timeout'),
        drainTimeout: value('drain-timeout'),
        workers: value('workers'),
      },
      'legacy',
      '-',
    );
    process.exit(await runProxy(config, createLogger(DROP_IN_PROGRAM)));
  } catch (error) {
    exitWithError(DROP_IN_PROGRAM, error);
  }
}
