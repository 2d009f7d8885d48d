import os from 'node:os';

import { canonicalIp } from './ip';

export type NetworkInterfaces = ReturnType<typeof os.networkInterfaces>;

/**
 * This host's own addresses, IPv4 and IPv6, on every interface. Read anew
 * for each snapshot (one getifaddrs call), so addresses that come and go
 * with interfaces are always current.
 */
export function localAddresses(
  interfaces: NetworkInterfaces = os.networkInterfaces(),
): Set<string> {
  const addresses = new Set<string>();
  for (const list of Object.values(interfaces)) {
    for (const info of list ?? []) {
      const address = canonicalIp(info.address);
      if (address !== undefined) addresses.add(address);
    }
  }
  return addresses;
}
