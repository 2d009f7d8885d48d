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
  return new net.SocketAddress({ address: withoutScope, family: 'ipv6' }).address;
}

export function ipFamily(address: string): 'ipv4' | 'ipv6' {
  return net.isIPv6(address) ? 'ipv6' : 'ipv4';
}
