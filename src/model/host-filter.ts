import net from 'node:net';

import { UsageError } from '../errors';
import { canonicalIp, ipFamily } from './ip';

/**
 * The --ignore-hosts list: addresses, address:port pairs and CIDR networks,
 * IPv4 and IPv6 ("192.0.2.7", "192.0.2.7:443", "[2001:db8::1]:443",
 * "198.51.100.0/24", "2001:db8::/32").
 */
export class HostFilter {
  private readonly networks = new net.BlockList();
  private readonly endpoints = new Set<string>();
  private empty = true;

  /** Throws a UsageError naming the first entry that is not understood. */
  static parse(list: readonly string[], option = '--ignore-hosts'): HostFilter {
    const filter = new HostFilter();
    for (const raw of list) {
      for (const item of raw.split(',')) {
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

  private add(text: string, option: string): void {
    this.empty = false;
    const slash = text.indexOf('/');
    if (slash >= 0) {
      this.addNetwork(text, slash, option);
      return;
    }
    const address = canonicalIp(text);
    if (address !== undefined) {
      this.networks.addAddress(address, ipFamily(address));
      return;
    }
    const endpoint = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
    const host = endpoint ? canonicalIp(endpoint[1] ?? endpoint[2] ?? '') : undefined;
    const port = endpoint ? Number(endpoint[3]) : NaN;
    if (host === undefined || !(port >= 1 && port <= 65535)) {
      throw new UsageError(
        `${option}: '${text}' is not an IP address, address:port or CIDR network ` +
          `(examples: 192.0.2.7, 192.0.2.7:443, [2001:db8::1]:443, 198.51.100.0/24, 2001:db8::/32)`,
      );
    }
    this.endpoints.add(`${host}|${port}`);
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
    this.networks.addSubnet(address, prefix, ipFamily(address));
  }
}
