import assert from 'node:assert/strict';
import test from 'node:test';

import { ConntrackError } from '../../src/conntrack';
import { explainReadError } from '../../src/conntrack/explain';

function kernelError(code: string, message: string): ConntrackError {
  return Object.assign(new Error(`nfct_query(DUMP): ${message}`), { code });
}

test('missing privileges name the capability and how to grant it', () => {
  const text = explainReadError(kernelError('EPERM', 'Operation not permitted'));
  assert.match(text, /permission denied/);
  assert.match(text, /CAP_NET_ADMIN/);
  assert.match(text, /--cap-add=NET_ADMIN/);
});

test('a kernel without conntrack names the modules to load', () => {
  for (const code of ['EPROTONOSUPPORT', 'EOPNOTSUPP', 'ENOENT']) {
    const text = explainReadError(kernelError(code, 'Protocol not supported'));
    assert.match(text, /modprobe nf_conntrack nf_conntrack_netlink/, code);
  }
});

test('any other failure keeps the kernel message', () => {
  const text = explainReadError(kernelError('ENOBUFS', 'No buffer space available'));
  assert.equal(
    text,
    'cannot read the conntrack table: nfct_query(DUMP): No buffer space available',
  );
});
