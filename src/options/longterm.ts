import { Argv } from 'yargs';

import { LongtermConfig } from '../collectors/longterm';
import { ArgsOf } from './args';
import { checkCount, checkPort } from './checks';

export type LongtermArgs = ArgsOf<typeof longtermOptions>;

/** The long-term connections metric's options (the tcp_established_exporter's, prefixed). */
export function longtermOptions<T>(y: Argv<T>) {
  return y
    .option('longterm', {
      type: 'boolean',
      default: false,
      describe:
        'export conntrack_longterm_connections (costs O(connections) per scrape in events mode)',
    })
    .option('longterm-duration', {
      default: 6,
      requiresArg: true,
      coerce: (value: unknown) => checkCount(value, '--longterm-duration', 0),
      describe: 'seconds a connection must have been established to count as long-term',
    })
    .option('longterm-simple', {
      type: 'boolean',
      default: false,
      describe: 'one unlabelled count instead of one per local port and IP version',
    })
    .option('longterm-port', {
      requiresArg: true,
      coerce: (value: unknown) => checkPort(value, '--longterm-port'),
      describe: "observe this local port only (default: all but the exporter's own)",
    })
    .option('longterm-tcpv6', {
      type: 'boolean',
      default: true,
      describe: 'count IPv6 connections too',
    });
}

export function longtermConfig(args: LongtermArgs): LongtermConfig | undefined {
  if (!args.longterm) return undefined;
  return {
    metricName: 'conntrack_longterm_connections',
    minAgeSeconds: args.longtermDuration,
    simple: args.longtermSimple,
    port: args.longtermPort,
    includeIPv6: args.longtermTcpv6,
  };
}
