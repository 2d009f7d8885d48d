import { exitWithError } from '../errors';
import { createLogger } from '../log';
import {
  buildProxyConfig,
  DEFAULT_DIAL_TIMEOUT,
  DEFAULT_DRAIN_TIMEOUT,
  MAX_WORKERS,
} from '../options/proxy';
import { goFlagUsage, parseGoFlags, type GoFlagSpec } from '../options/go-flags';
import { runProxy } from './run';

export const DROP_IN_PROGRAM = 'tcp-metrics-proxy';

/** The Go proxy's three flags, then ours, spelled the Go way. */
export const DROP_IN_FLAGS: readonly GoFlagSpec[] = [
  {
    name: 'listen',
    usage: 'address to accept connections on, HOST:PORT',
    defaultValue: '127.0.0.1:3000',
  },
  {
    name: 'target',
    usage: 'address to forward connections to, HOST:PORT',
    defaultValue: '127.0.0.1:3001',
  },
  {
    name: 'metrics',
    usage: 'address to serve Prometheus metrics on, HOST:PORT',
    defaultValue: '127.0.0.1:3002',
  },
  { name: 'metrics-path', usage: 'serve the metrics on this path only (default: every path)' },
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
    // The Go proxy's defaults: it runs without flags.
    const value = (name: string): string | undefined =>
      parsed.values.get(name) ?? DROP_IN_FLAGS.find((spec) => spec.name === name)?.defaultValue;
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
      true,
    );
    process.exit(await runProxy(config, createLogger(DROP_IN_PROGRAM)));
  } catch (error) {
    exitWithError(DROP_IN_PROGRAM, error);
  }
}
