/**
 * The proxy's counts. Each relay thread adds to counts of its own (exact to
 * 2^53 bytes); every read here sums them at that moment, so a scrape
 * always sees every byte moved so far, over all threads.
 */

/** Bytes through one direction: read from one side, written to the other. */
export interface DirectionBytes {
  read: number;
  written: number;
}

/** The relay's counters, in the order of native/relay/relay.h (checked when it is created). */
export const TRAFFIC_COUNTERS = [
  'accepted',
  'dialed',
  'activeInbound',
  'activeOutbound',
  'clientReceived',
  'targetSent',
  'targetReceived',
  'clientSent',
] as const;
export type TrafficCounter = (typeof TRAFFIC_COUNTERS)[number];

export const DIAL_FAILURE_REASONS = [
  'refused',
  'timeout',
  'unreachable',
  'resolve',
  'other',
] as const;
export type DialFailureReason = (typeof DIAL_FAILURE_REASONS)[number];

export class ProxyTraffic {
  private readonly sums = new Float64Array(TRAFFIC_COUNTERS.length);
  private source: ((into: Float64Array) => void) | undefined;
  /** Counted in TS: a failed dial reaches JS anyway, to be logged. */
  readonly dialFailures: Record<DialFailureReason, number> = {
    refused: 0,
    timeout: 0,
    unreachable: 0,
    resolve: 0,
    other: 0,
  };

  /** Counts from now on come from `source`, which writes the sums in TRAFFIC_COUNTERS order. */
  countFrom(source: (into: Float64Array) => void): void {
    this.source = source;
  }

  get(counter: TrafficCounter): number {
    this.source?.(this.sums);
    return this.sums[TRAFFIC_COUNTERS.indexOf(counter)] ?? 0;
  }

  get activeInbound(): number {
    return this.get('activeInbound');
  }
  get activeOutbound(): number {
    return this.get('activeOutbound');
  }
  get accepted(): number {
    return this.get('accepted');
  }
  get dialed(): number {
    return this.get('dialed');
  }
  /** Client to target: read = received from clients, written = sent to the target. */
  get upstream(): DirectionBytes {
    return { read: this.get('clientReceived'), written: this.get('targetSent') };
  }
  /** Target to client: read = received from the target, written = sent to clients. */
  get downstream(): DirectionBytes {
    return { read: this.get('targetReceived'), written: this.get('clientSent') };
  }
}

/** The reason a dial failed, from the error code the relay reports (Node's names). */
export function classifyDialError(code: string | undefined): DialFailureReason {
  switch (code) {
    case 'ECONNREFUSED':
    case 'ECONNRESET':
      return 'refused';
    case 'ETIMEDOUT':
      return 'timeout';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
    case 'ENETDOWN':
    case 'EADDRNOTAVAIL':
      return 'unreachable';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NODATA':
      return 'resolve';
    default:
      return 'other';
  }
}
