/**
 * The package's programmatic interface: a typed, read-only view of the
 * kernel's conntrack table.
 */
export { dump, libraryVersion } from './conntrack';
export type { ConntrackEntry, ConntrackError, Counters, Tuple } from './conntrack';
export { TcpState } from './conntrack/types';
export { phaseOf, stateName } from './model/tcp-state';
export type { ConnectionPhase } from './model/tcp-state';
