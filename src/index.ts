/**
 * The package's programmatic interface: a typed, read-only view of the
 * kernel's conntrack table, read whole (dump) or followed as it changes
 * (openEvents).
 */
export { dump, libraryVersion, lookup } from './conntrack';
export type { ConntrackEntry, ConntrackError, Counters, EntryIdentity, Tuple } from './conntrack';
export { TcpState } from './conntrack/types';
export { ConntrackEventStream, decodeEvents, openEvents } from './conntrack/events';
export type {
  ConntrackEvent,
  ConntrackEventStreamEvents,
  ConntrackEventType,
  EventBatch,
  EventStreamOptions,
} from './conntrack/events';
export { phaseOf, stateName } from './model/tcp-state';
export type { ConnectionPhase } from './model/tcp-state';
