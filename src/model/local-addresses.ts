import os from 'node:os';

import { interfacesMayHaveChanged, watchedInterfaceAddresses } from '../conntrack/netns';
import { canonicalIp } from './ip';

/**
 * The addresses of every interface, IPv4 and IPv6: of the watched network
 * namespace with --netns, else of this process's own.
 */
function interfaceAddresses(): string[] {
  return (
    watchedInterfaceAddresses() ??
    Object.values(os.networkInterfaces()).flatMap((list) =>
      (list ?? []).map((info) => info.address),
    )
  );
}

let known: ReadonlySet<string> | undefined;

/**
 * This host's own addresses, canonical, as they are now. Asked at every
 * scrape, they are read (getifaddrs: a dump of every interface with its
 * statistics, dearer with each interface a node's containers add) only
 * when rtnetlink told of a change to an interface or an address since the
 * last read. The same set is returned until then; a change gives a new one.
 */
export function localAddresses(): ReadonlySet<string> {
  // Asked before the read: the notices must be heard from before it on.
  const changed = interfacesMayHaveChanged();
  if (changed || known === undefined) {
    const local = new Set<string>();
    for (const text of interfaceAddresses()) {
      const address = canonicalIp(text);
      if (address !== undefined) local.add(address);
    }
    known = local;
  }
  return known;
}
