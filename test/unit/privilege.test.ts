import assert from 'node:assert/strict';
import test from 'node:test';

import { effectiveCapabilities, excessPrivilegeWarning } from '../../src/privilege';

const status = (capEff: string) => `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\n`;
const FULL = '000001ffffffffff';
const NET_ADMIN = (1n << 12n).toString(16).padStart(16, '0');
const NET_ADMIN_AND_BIND = ((1n << 12n) | (1n << 10n)).toString(16).padStart(16, '0');

test('capability names from the CapEff line', () => {
  assert.deepEqual(effectiveCapabilities(status(NET_ADMIN)), ['CAP_NET_ADMIN']);
  assert.equal(effectiveCapabilities(status(FULL))?.length, 41);
  assert.equal(effectiveCapabilities(status(FULL))?.[21], 'CAP_SYS_ADMIN');
  assert.deepEqual(effectiveCapabilities(status('0000000000000000')), []);
  assert.equal(effectiveCapabilities('Name:\tnode\n'), undefined, 'no CapEff line, no claim');
});

test('root with every capability is warned about, naming the dangerous ones', () => {
  const warning = excessPrivilegeWarning(status(FULL), 0, 9318);
  assert.match(
    String(warning),
    /^running as root with 40 capabilities it does not need \(CAP_DAC_OVERRIDE, CAP_SYS_ADMIN, \.\.\.\); only CAP_NET_ADMIN is needed/,
  );
});

test('only CAP_NET_ADMIN, as any uid, is what is needed: no warning', () => {
  assert.equal(excessPrivilegeWarning(status(NET_ADMIN), 65534, 9318), undefined);
  assert.equal(excessPrivilegeWarning(status(NET_ADMIN), 0, 9318), undefined);
  assert.equal(excessPrivilegeWarning(status('0000000000000000'), 65534, 9318), undefined);
});

test('CAP_NET_BIND_SERVICE is needed below port 1024 only', () => {
  assert.equal(excessPrivilegeWarning(status(NET_ADMIN_AND_BIND), 65534, 80), undefined);
  assert.match(
    String(excessPrivilegeWarning(status(NET_ADMIN_AND_BIND), 65534, 9318)),
    /^running as uid 65534 with 1 capability it does not need \(CAP_NET_BIND_SERVICE\)/,
  );
});
