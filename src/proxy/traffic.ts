/**
 * The proxy's counts, as plain numbers. The data path adds to them directly
 * (a property add per chunk costs nothing measurable) and the metrics read
 * them at scrape time, so a scrape always sees every byte moved so far.
 */

/** Bytes through one direction: read from one side, written to the other. */
export interface DirectionBytes {
  read: number;
  written: number;
}

export const DIAL_FAILURE_REASONS = [
  'refused',
  'timeout',
  'unreachable',
  'resolve',
  'other',
] as const;
export type DialFailureReason = (typeof DIAL_FAILURE_REASONS)[number];

export class ProxyTraffic {
  activeInbound = 0;
  activeOutbound = 0;
  accepted = 0;
  dialed = 0;
  readonly dialFailures: Record<DialFailureReason, number> = {
    refused: 0,
    timeout: 0,
    unreachable: 0,
    resolve: 0,
    other: 0,
  };
  /** Client to target: read = received from clients, written = sent to the target. */
  readonly upstream: DirectionBytes = { read: 0, written: 0 };
  /** Target to client: read = received from the target, written = sent to clients. */
  readonly downstream: DirectionBytes = { read: 0, written: 0 };
}

/** Raised by the proxy itself when the target does not answer in time. */
export class DialTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = 'DialTimeoutError';
  }
}

export function classifyDialError(error: unknown): DialFailureReason {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
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
