import assert from 'node:assert/strict';
import test from 'node:test';

import { TcpState } from '../../src/conntrack/types';
import { phaseOf, stateName } from '../../src/model/tcp-state';

test('every kernel TCP state maps to its phase, exactly', () => {
  const expected: [TcpState | undefined, string | undefined][] = [
    [TcpState.SynSent, 'opening'],
    [TcpState.SynSent2, 'opening'],
    [TcpState.SynRecv, 'opening'],
    [TcpState.Established, 'open'],
    [TcpState.FinWait, 'closing'],
    [TcpState.CloseWait, 'closing'],
    [TcpState.LastAck, 'closing'],
    [TcpState.TimeWait, 'closing'],
    [TcpState.Close, 'closed'],
    [TcpState.None, undefined],
    [undefined, undefined],
    [10 as TcpState, undefined], // TCP_CONNTRACK_MAX and above are not states
  ];
  for (const [state, phase] of expected) {
    assert.equal(phaseOf(state), phase, stateName(state));
  }
});

test('state names match the conntrack CLI', () => {
  assert.equal(stateName(TcpState.TimeWait), 'TIME_WAIT');
  assert.equal(stateName(TcpState.SynSent2), 'SYN_SENT2');
  assert.equal(stateName(undefined), 'NONE');
  assert.equal(stateName(42 as TcpState), 'UNKNOWN(42)');
});
