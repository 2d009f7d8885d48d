import { ConntrackEntry } from '../conntrack/types';

export type Direction = 'outbound' | 'inbound' | 'forwarded';

/** Who the remote end of a flow is, and which service it is about. */
export interface FlowView {
  direction: Direction;
  /** The remote address. */
  remote: string;
  /** The service port: the remote port when outbound, the local one when inbound. */
  port: number;
  /** Whether this host is the responder (it accepted the connection). */
  localResponder: boolean;
}

/**
 * Decides the direction of a flow from this host's point of view.
 *
 * The original tuple names the initiator (src) and the address it asked for
 * (dst); the reply tuple names the real responder after DNAT (reply.src) and
 * the initiator's address after SNAT (reply.dst). So this host initiated the
 * flow if it is original.src or reply.dst, and answered it if it is
 * original.dst or reply.src.
 *
 * - outbound: this host initiated. The remote is the real responder
 *   (reply.src), so a connection to a DNAT'ed service address is counted
 *   against the backend that served it. A flow between two local endpoints
 *   (loopback) is one connection and counts once, as outbound.
 * - inbound: this host answered. The remote is the client (original.src) and
 *   the port is the local port that served it (reply.src port when the
 *   responder is local after DNAT, else the port asked for).
 * - forwarded: neither end is local (this host routes the flow); it is
 *   labelled by its destination, like outbound.
 */
export function viewFlow(entry: ConntrackEntry, isLocal: (address: string) => boolean): FlowView {
  const { original, reply } = entry;
  const initiatorLocal = isLocal(original.src) || isLocal(reply.dst);
  const replyResponderLocal = isLocal(reply.src);
  const responderLocal = replyResponderLocal || isLocal(original.dst);

  if (responderLocal && !initiatorLocal) {
    return {
      direction: 'inbound',
      remote: original.src,
      port: replyResponderLocal ? reply.srcPort : original.dstPort,
      localResponder: true,
    };
  }
  return {
    direction: initiatorLocal ? 'outbound' : 'forwarded',
    remote: reply.src,
    port: reply.srcPort,
    localResponder: responderLocal,
  };
}
