import { ConntrackEntry } from '../conntrack/types';
import { AggregateOptions } from './aggregate';
import { FlowView, viewFlow } from './flow';

/**
 * The flow view of an entry as the connection metrics count it, or
 * undefined when the metrics leave it out: a flow to the exporter's own port
 * (unless counted on purpose) or to an ignored host. The live table and the
 * event log decide with this, and the dump-mode aggregate applies the same
 * two rules, so both modes count the same connections.
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
