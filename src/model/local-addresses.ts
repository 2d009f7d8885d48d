import os from 'node:os';

import { watchedInterfaceAddresses } from '../conntrack/netns';
import { canonicalIp } from './ip';

/**
 * The addresses of every interface, IPv4 and IPv6: of the watched network
 * namespace with --netns, else of this process's own.
 */
export function interfaceAddresses(): string[] {
  return (
    watchedInterfaceAddresses() ??
    Object.values(os.networkInterfaces()).flatMap((list) =>
      (list ?? []).map((info) => info.address),
    )
  );
}

/**
 * This host's own addresses, canonical. Read anew for each snapshot (one
 * getifaddrs call), so addresses that come and go with interfaces are
 * always current.
 */
export function localAddresses(addresses: Iterable<string> = interfaceAddresses()): Set<string> {
  const local = new Set<string>();
  for (const text of addresses) {
    const address = canonicalIp(text);
    if (address !== undefined) local.add(address);
  }
  return local;
}
