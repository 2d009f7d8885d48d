/** TCP states as the kernel numbers them (enum tcp_conntrack). */
export enum TcpState {
  None = 0,
  SynSent = 1,
  SynRecv = 2,
  Established = 3,
  FinWait = 4,
  CloseWait = 5,
  LastAck = 6,
  TimeWait = 7,
  Close = 8,
  /** Was LISTEN; the kernel reuses the value for simultaneous open. */
  SynSent2 = 9,
}

// Status bits (IPS_*, linux/netfilter/nf_conntrack_common.h).
/** A packet was seen in the reply direction. */
export const SEEN_REPLY = 1 << 1;
/** The connection is established for conntrack (TCP: the handshake completed). */
export const ASSURED = 1 << 2;

/** One direction of a flow as conntrack saw it. */
export interface Tuple {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
}

export interface Counters {
  packets: bigint;
  bytes: bigint;
}

/**
 * A TCP entry of the conntrack table. `original` is the direction of the
 * first packet (initiator -> responder); `reply` is the answer as it came
 * back, so it shows the real endpoints after NAT.
 */
export interface ConntrackEntry {
  family: 4 | 6;
  /** Undefined when the kernel reported no TCP state. */
  tcpState: TcpState | undefined;
  original: Tuple;
  reply: Tuple;
  /** IPS_* status bits (see linux/netfilter/nf_conntrack_common.h). */
  status: number;
  mark: number;
  zone: number;
  id: number;
  /** Seconds until the kernel forgets the entry. */
  timeout: number;
  /** Present when nf_conntrack_acct is on. */
  counters?: { original: Counters; reply: Counters };
  /** When the flow started, in ns since the epoch; present when nf_conntrack_timestamp is on. */
  startNs?: bigint;
}

/** What the kernel tells entries apart by: the original tuple, in a zone. */
export interface EntryIdentity {
  family: 4 | 6;
  original: Tuple;
  zone: number;
}

/**
 * An identity as one string, "family|src|srcPort|dst|dstPort|zone": how
 * the live table keys its entries and how lookups take them.
 */
export function identityKey(entry: EntryIdentity): string {
  const { original } = entry;
  // join() makes one flat string; a template literal would keep a tree of
  // its pieces alive as a map key, several times the size.
  return [
    entry.family,
    original.src,
    original.srcPort,
    original.dst,
    original.dstPort,
    entry.zone,
  ].join('|');
}
