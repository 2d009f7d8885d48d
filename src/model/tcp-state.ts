import { TcpState } from '../conntrack/types';

/** The four generalised states that the exporter reports. */
export type ConnectionPhase = 'opening' | 'open' | 'closing' | 'closed';

export const PHASES: readonly ConnectionPhase[] = ['opening', 'open', 'closing', 'closed'];

/**
 * Maps a kernel TCP state to the phase it is reported as. Undefined for an
 * entry with no TCP state (NONE, or none reported): such entries are skipped.
 */
export function phaseOf(state: TcpState | undefined): ConnectionPhase | undefined {
  switch (state) {
    case TcpState.SynSent:
    case TcpState.SynSent2:
    case TcpState.SynRecv:
      return 'opening';
    case TcpState.Established:
      return 'open';
    case TcpState.FinWait:
    case TcpState.CloseWait:
    case TcpState.LastAck:
    case TcpState.TimeWait:
      return 'closing';
    case TcpState.Close:
      return 'closed';
    default:
      return undefined;
  }
}

const STATE_NAMES: Record<number, string> = {
  [TcpState.None]: 'NONE',
  [TcpState.SynSent]: 'SYN_SENT',
  [TcpState.SynRecv]: 'SYN_RECV',
  [TcpState.Established]: 'ESTABLISHED',
  [TcpState.FinWait]: 'FIN_WAIT',
  [TcpState.CloseWait]: 'CLOSE_WAIT',
  [TcpState.LastAck]: 'LAST_ACK',
  [TcpState.TimeWait]: 'TIME_WAIT',
  [TcpState.Close]: 'CLOSE',
  [TcpState.SynSent2]: 'SYN_SENT2',
};

/** The name `conntrack -L` prints for a state. */
export function stateName(state: TcpState | undefined): string {
  return state === undefined ? 'NONE' : (STATE_NAMES[state] ?? `UNKNOWN(${state})`);
}
