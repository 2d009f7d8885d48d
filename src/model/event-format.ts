import type { ConntrackEvent, ConntrackEventType } from '../conntrack/events';
import { ASSURED, Counters, SEEN_REPLY, TcpState, Tuple } from '../conntrack/types';
import { FlowView } from './flow';
import { ConnectionPhase, phaseOf, stateName } from './tcp-state';

export type EventLogFormat = 'netfilter' | 'json';
export const EVENT_LOG_FORMATS: readonly EventLogFormat[] = ['netfilter', 'json'];

/** One event, with what the exporter made of it. */
export interface LoggedEvent {
  event: ConntrackEvent;
  flow: FlowView;
  /** The event's TCP state, or the last known one when the event carries none. */
  state: TcpState | undefined;
  atMs: number;
}

// As conntrack -E prints the event type: right-aligned in 9 columns.
const NETFILTER_TYPE: Record<ConntrackEventType, string> = {
  new: '    [NEW]',
  update: ' [UPDATE]',
  destroy: '[DESTROY]',
};

// The original conntrack_exporter's JSON names for the phases.
const JSON_STATE: Record<ConnectionPhase, string> = {
  opening: 'Opening',
  open: 'Open',
  closing: 'Closing',
  closed: 'Closed',
};

export function formatEvent(logged: LoggedEvent, format: EventLogFormat): string {
  return format === 'json' ? formatJson(logged) : formatNetfilter(logged);
}

/**
 * As `conntrack -E -o timestamp` prints it: the time, the event type, the
 * protocol, the timeout and state, both tuples with their counters when
 * accounting is on, the UNREPLIED and ASSURED flags, the mark and the zone.
 */
function formatNetfilter({ event, state, atMs }: LoggedEvent): string {
  const { type, entry } = event;
  const parts = [`[${(atMs / 1000).toFixed(6)}]\t${NETFILTER_TYPE[type]} tcp      6`];
  // A destroy event may come without a timeout; the kernel never sends 0 otherwise.
  if (type !== 'destroy' || entry.timeout !== 0) parts.push(String(entry.timeout));
  if (state !== undefined) parts.push(stateName(state));
  parts.push(tuple(entry.original, entry.counters?.original));
  if ((entry.status & SEEN_REPLY) === 0) parts.push('[UNREPLIED]');
  parts.push(tuple(entry.reply, entry.counters?.reply));
  if ((entry.status & ASSURED) !== 0) parts.push('[ASSURED]');
  // The kernel sends the mark only when there is one.
  if (entry.mark !== 0) parts.push(`mark=${entry.mark}`);
  if (entry.zone !== 0) parts.push(`zone=${entry.zone}`);
  return parts.join(' ');
}

function tuple({ src, dst, srcPort, dstPort }: Tuple, counters: Counters | undefined): string {
  const text = `src=${src} dst=${dst} sport=${srcPort} dport=${dstPort}`;
  return counters ? `${text} packets=${counters.packets} bytes=${counters.bytes}` : text;
}

/**
 * One JSON object with the original conntrack_exporter's keys (hosts as
 * "address:port", state as Opening/Open/Closing/Closed), plus the time,
 * the kernel's TCP state name and the direction.
 */
function formatJson({ event, flow, state, atMs }: LoggedEvent): string {
  const { original, reply } = event.entry;
  const phase = phaseOf(state);
  return JSON.stringify({
    timestamp: new Date(atMs).toISOString(),
    event_type: event.type,
    original_source_host: hostPort(original.src, original.srcPort),
    original_destination_host: hostPort(original.dst, original.dstPort),
    reply_source_host: hostPort(reply.src, reply.srcPort),
    reply_destination_host: hostPort(reply.dst, reply.dstPort),
    // An inbound connection's remote end is the client, at its own port (as
    // the original wrote it); the metrics label it with the service port.
    remote_host:
      flow.direction === 'inbound'
        ? hostPort(original.src, original.srcPort)
        : hostPort(flow.remote, flow.port),
    state: phase === undefined ? null : JSON_STATE[phase],
    tcp_state: state === undefined ? null : stateName(state),
    direction: flow.direction,
  });
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
