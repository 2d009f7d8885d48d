import { ConntrackEntry } from '../conntrack/types';
import { FlowView, viewFlow } from './flow';
import { HostFilter } from './host-filter';

/** The rules entries are classified by, in both modes. */
export interface AggregateOptions {
  /** This host's own addresses. */
  localAddresses: ReadonlySet<string>;
  /** Flows to this local port are left out (the exporter's own), unless undefined. */
  ownPort?: number;
  ignore?: HostFilter;
}

/**
 * The flow view of an entry as the connection metrics count it, or
 * undefined when the metrics leave it out: a flow to the exporter's own port
 * (unless counted on purpose) or to an ignored host. The live table, the
 * event log and the dump-mode aggregate all decide with this, so both modes
 * count the same connections.
 */
export function countedFlow(
  entry: ConntrackEntry,
  options: AggregateOptions,
): FlowView | undefined {
  const { localAddresses, ownPort, ignore } = options;
  const flow = viewFlow(entry, (address) => localAddresses.has(address));
  if (flow.localResponder && flow.port === ownPort) return undefined;
  if (ignore?.matches(flow.remote, flow.port)) return undefined;
  return flow;
}
