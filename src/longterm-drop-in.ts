/**
 * `tcp_established_exporter`: a drop-in for the Go exporter of that name.
 * Its flags (Go style, `--simple=true` or `-simple`), its environment
 * variables (SIMPLE, TCPV6, PORT, LISTEN, DURATION), its config file
 * (`--conf FILE`, one `name value` per line), its port 9690 and its metric
 * name, netstat_tcp_longterm_connections_total; counted by our exporter.
 * Precedence, as in the original: flag > environment > file > default.
 */
import { DEFAULT_RECEIVE_BUFFER_BYTES } from './conntrack/events';
import { goFlagUsage, parseGoFlags, type GoFlagSpec } from './options/go-flags';
import { readConfigFile } from './options/config-file';
import { layer, OptionShape } from './options/layers';
import { Setting } from './options/setting';
import { exitWithError } from './errors';
import { startExporter } from './exporter';
import { createLogger } from './log';
import { HostFilter } from './model/host-filter';
import { checkCount, checkPort } from './options/checks';
import { ALL_ADDRESSES } from './http/server';

export const PROGRAM = 'tcp_established_exporter';
const METRIC = 'netstat_tcp_longterm_connections_total';

const FLAGS: readonly GoFlagSpec[] = [
  { name: 'simple', boolean: true, usage: 'one gauge counting all long-term connections' },
  { name: 'tcpv6', boolean: true, usage: 'count IPv6 connections too', defaultValue: 'true' },
  { name: 'port', usage: 'observe this port only; -1 for all', defaultValue: '-1' },
  { name: 'listen', usage: 'port to serve metrics on', defaultValue: '9690' },
  { name: 'duration', usage: 'seconds after which a connection is long-term', defaultValue: '6' },
  { name: 'config', usage: 'config file: one "name value" per line (or env CONFIG)' },
  { name: 'conf', usage: 'the same as -config (the original README spells it so)' },
];
/** Not settings: where the settings file is. */
const CONFIG_FLAGS = new Set(['config', 'conf']);
const SHAPES: Record<string, OptionShape> = {
  simple: { kind: 'boolean' },
  tcpv6: { kind: 'boolean' },
  port: { kind: 'number' },
  listen: { kind: 'number' },
  duration: { kind: 'number' },
};

export interface DropInSettings {
  simple: boolean;
  tcpv6: boolean;
  /** Undefined for all ports (-1 in the original). */
  port?: number;
  listen: number;
  duration: number;
  conf?: string;
}

/** The settings in force, from the flags, the environment and the config file. */
export function resolveSettings(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): DropInSettings | 'help' {
  const parsed = parseGoFlags(args, FLAGS);
  if (parsed.help) return 'help';
  // The original's flag library (namsral/flag) names the file with -config
  // or the variable CONFIG; its README says -conf. The flag wins.
  const configSource = (['config', 'conf'] as const).find((name) => parsed.values.has(name));
  const conf = configSource === undefined ? env.CONFIG : parsed.values.get(configSource);
  const confOrigin =
    configSource === undefined ? 'the environment variable CONFIG' : `-${configSource}`;
  const flags: Setting[] = [...parsed.values]
    .filter(([name]) => !CONFIG_FLAGS.has(name))
    .map(([name, value]) => ({ name, value, origin: `flag -${name}` }));
  const environment: Setting[] = Object.keys(SHAPES).flatMap((name) => {
    const value = env[name.toUpperCase()];
    return value === undefined
      ? []
      : [{ name, value, origin: `environment variable ${name.toUpperCase()}` }];
  });
  const file = conf === undefined || conf === '' ? [] : readConfigFile(conf, confOrigin);
  const { values, origins } = layer(SHAPES, file, environment, flags);
  // Named as this program's users know them: -listen, and where a value came from.
  const flag = (name: string): string => {
    const origin = origins.get(name);
    return origin === undefined || origin.startsWith('flag ')
      ? `-${name}`
      : `-${name} (from ${origin})`;
  };
  const port = (values.port as number | undefined) ?? -1;
  return {
    simple: (values.simple as boolean | undefined) ?? false,
    tcpv6: (values.tcpv6 as boolean | undefined) ?? true,
    port: port === -1 ? undefined : checkPort(port, flag('port')),
    listen: checkPort(values.listen ?? 9690, flag('listen')),
    duration: checkCount(values.duration ?? 6, flag('duration'), 0),
    conf,
  };
}

export async function runLongtermDropIn(args: readonly string[]): Promise<void> {
  try {
    const settings = resolveSettings(args, process.env);
    if (settings === 'help') {
      process.stdout.write(goFlagUsage(PROGRAM, FLAGS));
      process.exit(0);
    }
    const log = createLogger(PROGRAM);
    const exporter = await startExporter(
      {
        listenPort: settings.listen,
        bindAddress: ALL_ADDRESSES,
        listenPath: '/metrics',
        ignoreHosts: HostFilter.parse([]),
        includeOwnPort: false,
        metricLayout: 'native',
        hosts: { maxHosts: 500, maxPortsPerHost: 10 },
        // Events give each connection's first sighting to the millisecond,
        // where scrapes alone would give it to the scrape interval.
        events: {
          mode: 'events',
          resyncIntervalMs: 300_000,
          netlinkBufferBytes: DEFAULT_RECEIVE_BUFFER_BYTES,
        },
        longterm: {
          metricName: METRIC,
          minAgeSeconds: settings.duration,
          simple: settings.simple,
          port: settings.port,
          includeIPv6: settings.tcpv6,
        },
        longtermOnly: true,
      },
      log,
      {
        simple: settings.simple,
        tcpv6: settings.tcpv6,
        port: settings.port ?? -1,
        listen: settings.listen,
        duration: settings.duration,
        conf: settings.conf ?? 'none',
      },
    );
    const stop = () => void exporter.close().then(() => process.exit(0));
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  } catch (error) {
    exitWithError(PROGRAM, error);
  }
}
