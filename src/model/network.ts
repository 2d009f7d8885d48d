import net from 'node:net';

import { formatIPv4, formatIPv6 } from '../conntrack/address';

/** Prefix lengths that remote addresses are grouped by (--group-hosts-by). */
export interface GroupBy {
  ipv4: number;
  ipv6: number;
}

/**
 * The network that `address` belongs to, in CIDR notation with the prefix
 * length of its family: "198.51.100.0/24", "2001:db8:1::/64". The network
 * address is written like any other address (RFC 5952 for IPv6), so the same
 * network always gets the same label.
 */
export function networkOf(address: string, groupBy: GroupBy): string {
  if (net.isIPv4(address)) {
    return `${formatIPv4(mask(addressBytes(address), groupBy.ipv4), 0)}/${groupBy.ipv4}`;
  }
  return `${formatIPv6(mask(addressBytes(address), groupBy.ipv6), 0)}/${groupBy.ipv6}`;
}

/** The 4 or 16 bytes of a valid IP address. */
export function addressBytes(address: string): Uint8Array {
  return net.isIPv4(address) ? Uint8Array.from(address.split('.').map(Number)) : ipv6Bytes(address);
}

function mask(bytes: Uint8Array, prefix: number): Uint8Array {
  for (let i = 0; i < bytes.length; i++) {
    const kept = Math.min(8, Math.max(0, prefix - 8 * i));
    bytes[i] = bytes[i]! & (0xff << (8 - kept));
  }
  return bytes;
}

/** The 16 bytes of a valid IPv6 address, "::" and a trailing dotted quad included. */
function ipv6Bytes(address: string): Uint8Array {
  const text = address.replace(/%.*$/, '');
  const groups = (part: string): number[] => {
    if (part === '') return [];
    return part.split(':').flatMap((group) => {
      if (!group.includes('.')) return [parseInt(group, 16)];
      const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
      return [(a << 8) | b, (c << 8) | d];
    });
  };
  const gap = text.indexOf('::');
  const head = groups(gap < 0 ? text : text.slice(0, gap));
  const tail = gap < 0 ? [] : groups(text.slice(gap + 2));
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((group, i) => {
    bytes[2 * i] = group >> 8;
    bytes[2 * i + 1] = group & 0xff;
  });
  return bytes;
}
