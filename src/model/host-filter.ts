import net from 'node:net';

import { UsageError } from '../errors';
import { canonicalIp, ipFamily } from './ip';

/** A host name entry: "db-1.internal", "*.internal" (any subdomain), maybe with ":port". */
interface NameRule {
  /** Lower case, no trailing dot; for a wildcard, the suffix with its leading dot. */
  name: string;
  wildcard: boolean;
  port?: number;
}

// Labels of letters, digits, "-" and "_" (seen in real PTR names); the last
// label is not all digits, so "192.0.2.256" is a bad address, not a name.
const HOST_NAME =
  /^(\*\.)?((?:[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?\.)*(?=[a-z0-9_-]*[a-z_-])[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)\.?$/i;

/**
 * The --ignore-hosts list: addresses, address:port pairs and CIDR networks,
 * IPv4 and IPv6 ("192.0.2.7", "192.0.2.7:443", "[2001:db8::1]:443",
 * "198.51.100.0/24", "2001:db8::/32"), and host names ("db-1.internal",
 * "*.internal", "db-1.internal:5432") matched against the names that
 * reverse DNS gives remote addresses.
 */
export class HostFilter {
  private readonly networks = new net.BlockList();
  private readonly endpoints = new Set<string>();
  private readonly nameRules: NameRule[] = [];
  private empty = true;

  /** Throws a UsageError naming the first entry that is not understood. */
  static parse(list: readonly string[], option = '--ignore-hosts'): HostFilter {
    const filter = new HostFilter();
    for (const raw of list) {
      for (const item of raw.split(/[\s,]+/)) {
        const text = item.trim();
        if (text !== '') filter.add(text, option);
      }
    }
    return filter;
  }

  /** True when a flow to `address` (and service `port`) is to be left out. */
  matches(address: string, port: number): boolean {
    if (this.empty) return false;
    return (
      this.networks.check(address, ipFamily(address)) || this.endpoints.has(`${address}|${port}`)
    );
  }

  /** The host name entries, as given: matching them needs names. */
  get names(): string[] {
    return this.nameRules.map((rule) => {
      const name = rule.wildcard ? `*${rule.name}` : rule.name;
      return rule.port === undefined ? name : `${name}:${rule.port}`;
    });
  }

  /** True when a flow to a host named `name` (and service `port`) is to be left out. */
  matchesName(name: string, port: number): boolean {
    const lower = name.toLowerCase().replace(/\.$/, '');
    return this.nameRules.some(
      (rule) =>
        (rule.port === undefined || rule.port === port) &&
        (rule.wildcard ? lower.endsWith(rule.name) : lower === rule.name),
    );
  }

  private add(text: string, option: string): void {
    const slash = text.indexOf('/');
    if (slash >= 0) {
      this.addNetwork(text, slash, option);
      return;
    }
    const address = canonicalIp(text);
    if (address !== undefined) {
      this.empty = false;
      this.networks.addAddress(address, ipFamily(address));
      return;
    }
    const endpoint = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
    const port = endpoint ? Number(endpoint[3]) : undefined;
    const validPort = port === undefined || (port >= 1 && port <= 65535);
    const host = endpoint ? canonicalIp(endpoint[1] ?? endpoint[2] ?? '') : undefined;
    const name = endpoint?.[1] === undefined ? HOST_NAME.exec(endpoint?.[2] ?? text) : null;
    if (validPort && host !== undefined) {
      this.empty = false;
      this.endpoints.add(`${host}|${port}`);
    } else if (validPort && name?.[2] !== undefined) {
      const wildcard = name[1] !== undefined;
      this.nameRules.push({
        name: (wildcard ? `.${name[2]}` : name[2]).toLowerCase(),
        wildcard,
        port,
      });
    } else {
      throw new UsageError(
        `${option}: '${text}' is not an IP address, address:port, CIDR network or host name ` +
          `(examples: 192.0.2.7, 192.0.2.7:443, [2001:db8::1]:443, 198.51.100.0/24, 2001:db8::/32, ` +
          `db-1.internal, *.internal)`,
      );
    }
  }

  private addNetwork(text: string, slash: number, option: string): void {
    const address = canonicalIp(text.slice(0, slash));
    const prefixText = text.slice(slash + 1);
    const prefix = Number(prefixText);
    const max = address !== undefined && ipFamily(address) === 'ipv6' ? 128 : 32;
    if (address === undefined || !/^\d{1,3}$/.test(prefixText) || prefix > max) {
      throw new UsageError(
        `${option}: '${text}' is not a valid CIDR network; write an address and a prefix length ` +
          `of at most ${max}, e.g. 198.51.100.0/24 or 2001:db8::/32`,
      );
    }
    this.empty = false;
    this.networks.addSubnet(address, prefix, ipFamily(address));
  }
}
