import net from 'node:net';

/**
 * Canonical text of an IP address, so that addresses from the kernel, from
 * os.networkInterfaces() and from the user compare equal (RFC 5952 for
 * IPv6). Returns undefined for anything that is not an IP address.
 */
export function canonicalIp(text: string): string | undefined {
  const withoutScope = text.replace(/%.*$/, '');
  const family = net.isIP(withoutScope);
  if (family === 0) return undefined;
  if (family === 4) return withoutScope;
  const address = new net.SocketAddress({ address: withoutScope, family: 'ipv6' }).address;
  // inet_ntop writes an address whose first 96 bits are zero in the
  // deprecated IPv4-compatible form (::1.2.3.4); RFC 5952, and the record
  // decoder, write its last 32 bits in hex.
  const compatible = /^::(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  if (compatible === null) return address;
  const [a, b, c, d] = compatible.slice(1).map(Number) as [number, number, number, number];
  const high = a * 256 + b;
  const low = (c * 256 + d).toString(16);
  return high === 0 ? `::${low}` : `::${high.toString(16)}:${low}`;
}

export function ipFamily(address: string): 'ipv4' | 'ipv6' {
  return net.isIPv6(address) ? 'ipv6' : 'ipv4';
}
