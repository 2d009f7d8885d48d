/** The default command's options (serving conntrack metrics), before the config layers. */
import { Argv } from 'yargs';

import { ArgsOf } from './args';
import { checkPort } from './checks';
import { collectorOptions } from './collectors';
import { hostOptions } from './host-labels';
import { longtermOptions } from './longterm';
import { checkMetricLayout, MetricLayout } from './metric-layout';
import { tableReadingOptions } from './table-reading';
import { trafficOptions } from './traffic';

/** The defaults that depend on the name the program runs under. */
export interface CommandDefaults {
  metricLayout: MetricLayout;
  resolveHosts: boolean;
}

export const OWN_DEFAULTS: CommandDefaults = { metricLayout: 'native', resolveHosts: true };
/**
 * As `conntrack_exporter`, what the C++ original v0.3.1 served: its layout,
 * and addresses (it never looked names up), so that its dashboards and
 * alerts, which query host="10.0.1.5:3306", keep matching.
 */
export const ORIGINAL_DEFAULTS: CommandDefaults = { metricLayout: 'v0.3', resolveHosts: false };

export function exporterCommandOptions(y: Argv, defaults: CommandDefaults = OWN_DEFAULTS) {
  return trafficOptions(
    collectorOptions(
      longtermOptions(
        tableReadingOptions(hostOptions(exporterOptions(y, defaults), defaults.resolveHosts)),
      ),
    ),
  );
}

/** Options whose values add up when given several times, in any source. */
export const LIST_OPTIONS: readonly string[] = ['ignore-hosts'];

/** The default command's flags, checked and converted. */
export type ExporterArgs = ArgsOf<typeof exporterCommandOptions>;

function exporterOptions(y: Argv, defaults: CommandDefaults) {
  return y
    .option('listen-port', {
      alias: 'listen',
      default: 9318,
      requiresArg: true,
      // Checked here rather than with type: 'number', which turns "http" into NaN.
      coerce: (value: unknown) => checkPort(value, '--listen-port'),
      describe: 'port to serve metrics on',
    })
    .option('bind-address', {
      type: 'string',
      default: '::',
      describe:
        'address to serve metrics on (IPv4 or IPv6); :: is every address, IPv4 too (IPv4 only where the host has no IPv6)',
    })
    .option('listen-path', {
      type: 'string',
      default: '/metrics',
      describe: 'URL path of the metrics',
    })
    .option('ignore-hosts', {
      type: 'string',
      describe:
        'IPs, ip:port pairs, CIDR networks and host names (db-1.internal, *.internal) to leave out, separated by commas or spaces',
    })
    .option('include-own-port', {
      type: 'boolean',
      default: false,
      describe: "count connections to the exporter's own listen port too",
    })
    .option('metric-layout', {
      requiresArg: true,
      default: defaults.metricLayout,
      // Checked in coerce() rather than with choices, whose message spans lines.
      coerce: (value: unknown) => checkMetricLayout(value, '--metric-layout'),
      describe:
        'names and labels of the connection gauges: native (host, port, direction), ' +
        'v0.3 (the original conntrack_exporter v0.3.1\'s host="address:port"), v0.1 (its *_connections_total{host})',
    })
    .option('legacy-metric-names', {
      type: 'boolean',
      default: false,
      describe: 'the same as --metric-layout v0.1',
    })
    .option('debug', { type: 'boolean', default: false, describe: 'log debug messages' })
    .option('netns', {
      type: 'string',
      requiresArg: true,
      describe:
        "watch another network namespace's table: /var/run/netns/NAME or /proc/PID/ns/net (needs CAP_SYS_ADMIN)",
    })
    .option('web.config.file', {
      type: 'string',
      requiresArg: true,
      describe: 'exporter-toolkit web config (YAML): TLS, basic auth, headers; re-read on SIGHUP',
    });
}
