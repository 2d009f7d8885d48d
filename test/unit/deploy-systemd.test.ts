/**
 * The systemd unit: systemd-analyze accepts it, it runs unprivileged with
 * CAP_NET_ADMIN only, and its sandbox stays tight.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { missingComponent } from '../helpers/components';

const UNIT = path.join(__dirname, '..', '..', 'deploy', 'systemd', 'conntrack-exporter.service');
const HAS_SYSTEMD_ANALYZE = spawnSync('systemd-analyze', ['--version']).status === 0;
const SKIP = HAS_SYSTEMD_ANALYZE
  ? false
  : 'systemd-analyze not installed (apt-get install systemd)';

/** Directive -> every value it is given, in order. */
function directives(text: string): Map<string, string[]> {
  const result = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (!match) continue;
    result.set(match[1]!, [...(result.get(match[1]!) ?? []), match[2]!]);
  }
  return result;
}

test('systemd-analyze verify passes', (t) => {
  if (missingComponent(t, SKIP)) return;
  // From a neutral directory: verify also loads units named on the command line relative to it.
  const verify = spawnSync('systemd-analyze', ['verify', UNIT], {
    encoding: 'utf8',
    cwd: os.tmpdir(),
  });
  assert.equal(verify.status, 0, verify.stdout + verify.stderr);
  assert.equal(verify.stderr, '', 'no warnings');
});

test('unprivileged, with CAP_NET_ADMIN and nothing else', () => {
  const unit = directives(readFileSync(UNIT, 'utf8'));
  const one = (name: string) => unit.get(name)?.at(-1);
  assert.ok(one('DynamicUser') === 'yes' || (one('User') ?? 'root') !== 'root');
  assert.equal(one('AmbientCapabilities'), 'CAP_NET_ADMIN');
  assert.equal(one('CapabilityBoundingSet'), 'CAP_NET_ADMIN');
  assert.equal(one('NoNewPrivileges'), 'yes');
  assert.match(one('ExecStart') ?? '', /conntrack-exporter/);
  for (const hardening of ['ProtectSystem', 'ProtectHome', 'PrivateTmp', 'PrivateDevices']) {
    assert.ok(unit.has(hardening), `${hardening} missing`);
  }
  assert.equal(one('ProtectSystem'), 'strict');
  assert.match(one('RestrictAddressFamilies') ?? '', /AF_NETLINK/);
  // These would break it: Node needs W+X memory for its JIT, and the
  // capability must count in the host's user and network namespaces.
  for (const breaking of ['MemoryDenyWriteExecute', 'PrivateUsers', 'PrivateNetwork']) {
    assert.ok(!unit.has(breaking) || unit.get(breaking)?.at(-1) === 'no', `${breaking} breaks it`);
  }
});

test('systemd-analyze security rates its exposure low', (t) => {
  if (missingComponent(t, SKIP)) return;
  const security = spawnSync('systemd-analyze', ['security', '--offline=yes', UNIT], {
    encoding: 'utf8',
    cwd: os.tmpdir(),
  });
  const exposure = /Overall exposure level for [^:]+: ([\d.]+)/.exec(security.stdout)?.[1];
  assert.ok(exposure !== undefined, security.stdout + security.stderr);
  assert.ok(Number(exposure) <= 2.5, `exposure ${exposure}`);
});

test('beside the unit: the sysctl.d file that sets nf_conntrack_events=1, never installed by it', () => {
  const file = path.join(UNIT, '..', '..', 'sysctl', '90-conntrack-exporter.conf');
  const text = readFileSync(file, 'utf8');
  const settings = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  assert.deepEqual(settings, ['net.netfilter.nf_conntrack_events = 1']);
  // Its header says why and how to install it.
  assert.match(text, /^# .*restart/m);
  assert.match(text, /^# +cp deploy\/sysctl\/90-conntrack-exporter\.conf \/etc\/sysctl\.d\/$/m);
  const unit = readFileSync(UNIT, 'utf8');
  assert.match(unit, /^# .*\.\.\/sysctl\/90-conntrack-exporter\.conf/m);
  // The unit itself changes no kernel setting.
  assert.doesNotMatch(unit.replace(/^#.*$/gm, ''), /sysctl/);
});
