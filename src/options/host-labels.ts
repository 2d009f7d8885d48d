import { Argv } from 'yargs';

import { UsageError } from '../errors';
import { HostFilter } from '../model/host-filter';
import { GroupBy } from '../model/network';
import { ArgsOf } from './args';
import { checkCount } from './checks';
import { checkDuration } from './duration';
import { HostLabelConfig } from './host-label-config';

/** The flags of `hostOptions`, checked and converted (durations in ms). */
export type HostArgs = ArgsOf<typeof hostOptions>;

// Checked in coerce() rather than with type: 'number', which turns "abc"
// into NaN; yargs applies coerce() to the defaults too.
const duration = (flag: string, minMs: number, maxMs?: number) => ({
  requiresArg: true,
  coerce: (value: unknown) => checkDuration(String(value), flag, minMs, maxMs),
});
const count = (flag: string, min: number) => ({
  requiresArg: true,
  coerce: (value: unknown) => checkCount(value, flag, min),
});

export function hostOptions<T>(y: Argv<T>, resolveHosts = true) {
  return y
    .option('resolve-hosts', {
      type: 'boolean',
      default: resolveHosts,
      describe: 'label hosts with their reverse DNS name (--no-resolve-hosts: keep addresses)',
    })
    .option('dns-ttl', {
      ...duration('--dns-ttl', 1),
      default: '5m',
      describe:
        'how long a name is used before it is looked up again (seconds, or e.g. 30s, 5m, 1h)',
    })
    .option('dns-negative-ttl', {
      ...duration('--dns-negative-ttl', 1),
      default: '1m',
      describe:
        'how long an address without a name (NXDOMAIN, failure) waits to be looked up again',
    })
    .option('dns-timeout', {
      ...duration('--dns-timeout', 1),
      default: '2s',
      describe: 'time limit of one reverse lookup, per DNS server',
    })
    .option('dns-budget', {
      // Prometheus's default scrape timeout: waiting longer fails the scrape.
      ...duration('--dns-budget', 0, 10_000),
      default: '250ms',
      describe:
        'longest a scrape waits for new names (at most 10s); hosts not named by then are labelled by address',
    })
    .option('dns-max-inflight', {
      ...count('--dns-max-inflight', 1),
      default: 16,
      describe: 'reverse lookups running at once',
    })
    .option('max-hosts', {
      ...count('--max-hosts', 0),
      default: 500,
      describe: 'hosts with their own series; the others, fewest connections first, become "other"',
    })
    .option('max-ports-per-host', {
      ...count('--max-ports-per-host', 0),
      default: 10,
      describe: 'ports (per host label) with their own series; the others become port "other"',
    })
    .option('group-hosts-by', {
      requiresArg: true,
      coerce: (value: unknown) => checkGroupBy(String(value), '--group-hosts-by'),
      describe: 'label hosts by network: IPv4 and IPv6 prefix lengths, e.g. 24,64',
    });
}

/** The host label settings; refuses host names to ignore when names are off. */
export function hostLabelConfig(args: HostArgs, ignoreHosts: HostFilter): HostLabelConfig {
  const [firstName] = ignoreHosts.names;
  if (!args.resolveHosts && firstName !== undefined) {
    throw new UsageError(
      `--ignore-hosts: '${firstName}' is a host name, and names are only known with name ` +
        'resolution; drop --no-resolve-hosts or give addresses',
    );
  }
  return {
    maxHosts: args.maxHosts,
    maxPortsPerHost: args.maxPortsPerHost,
    groupBy: args.groupHostsBy,
    dns: args.resolveHosts
      ? {
          ttlMs: args.dnsTtl,
          negativeTtlMs: args.dnsNegativeTtl,
          timeoutMs: args.dnsTimeout,
          budgetMs: args.dnsBudget,
          maxInFlight: args.dnsMaxInflight,
        }
      : undefined,
  };
}

/** "24,64" or "/24,/64": the IPv4 and IPv6 prefix lengths to group hosts by. */
export function checkGroupBy(value: string, flag: string): GroupBy {
  const match = /^\s*\/?(\d{1,3})\s*,\s*\/?(\d{1,3})\s*$/.exec(value);
  const ipv4 = Number(match?.[1]);
  const ipv6 = Number(match?.[2]);
  if (!match || ipv4 > 32 || ipv6 > 128) {
    throw new UsageError(
      `${flag}: '${value}' is not an IPv4 and an IPv6 prefix length; write e.g. 24,64 ` +
        '(IPv4 at most 32, IPv6 at most 128)',
    );
  }
  return { ipv4, ipv6 };
}
