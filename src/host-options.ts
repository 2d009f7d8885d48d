import { Argv } from 'yargs';

import { UsageError } from './errors';
import { HostFilter } from './model/host-filter';
import { durationMs, formatDuration } from './duration';
import { checkCount } from './options';

export { formatDuration };
import { GroupBy } from './model/network';

/** How remote hosts become the host label: names, networks, and the bound on series. */
export interface HostLabelConfig {
  /** Reverse DNS settings; undefined with --no-resolve-hosts. */
  dns?: DnsConfig;
  maxHosts: number;
  maxPortsPerHost: number;
  groupBy?: GroupBy;
}

export interface DnsConfig {
  ttlMs: number;
  negativeTtlMs: number;
  timeoutMs: number;
  budgetMs: number;
  maxInFlight: number;
}

/** The flags of `hostOptions`, checked and converted (durations in ms). */
export interface HostArgs {
  resolveHosts: boolean;
  dnsTtl: number;
  dnsNegativeTtl: number;
  dnsTimeout: number;
  dnsBudget: number;
  dnsMaxInflight: number;
  maxHosts: number;
  maxPortsPerHost: number;
  groupHostsBy?: GroupBy;
}

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

export function hostOptions<T>(y: Argv<T>) {
  return y
    .option('resolve-hosts', {
      type: 'boolean',
      default: true,
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

const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Seconds ("2"), or a number and a unit ("250ms", "1.5s", "5m", "1h"), in
 * milliseconds; bare seconds like the other interval flags. Refused outside
 * [minMs, maxMs], which is what catches "--dns-budget 250" meant as ms.
 */
export function checkDuration(
  value: string,
  flag: string,
  minMs: number,
  maxMs = MAX_TIMER_MS,
): number {
  const ms = Math.round(durationMs(value));
  if (!(ms >= minMs && ms <= maxMs)) {
    const range = [
      minMs > 0 ? 'above zero' : '',
      maxMs < MAX_TIMER_MS ? `of at most ${formatDuration(maxMs)}` : '',
    ].filter((part) => part !== '');
    throw new UsageError(
      `${flag}: '${value}' is not a duration${range.length ? ` ${range.join(' and ')}` : ''}; ` +
        'write seconds or a number and a unit, e.g. 250ms, 2s, 5m or 1h',
    );
  }
  return ms;
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
