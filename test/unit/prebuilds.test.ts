/**
 * The prebuilt addons the npm package carries (scripts/prebuild.sh): one per
 * architecture, loadable on glibc 2.31 and GCC 10's libstdc++ (Debian 11,
 * Ubuntu 20.04) and newer, needing no shared library beyond
 * libnetfilter-conntrack3 (and libmnl0, which it depends on) and the C and
 * C++ runtimes. Also the loader's checks and messages (src/native-addon.ts).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';

import { addonLoadError, NAPI_VERSION, napiProblem } from '../../src/native-addon';
import { missingComponent } from '../helpers/components';

const ROOT = path.join(__dirname, '..', '..');
const PREBUILDS = [
  { arch: 'x64', machine: 'Advanced Micro Devices X86-64' },
  { arch: 'arm64', machine: 'AArch64' },
];
// Debian 11's glibc and libstdc++ (GCC 10); Ubuntu 20.04 has the same.
const OLDEST = { GLIBC: '2.31', GLIBCXX: '3.4.28' };
const ALLOWED_LIBRARIES = new Set([
  'libnetfilter_conntrack.so.3',
  'libnfnetlink.so.0',
  'libmnl.so.0',
  'libstdc++.so.6',
  'libm.so.6',
  'libgcc_s.so.1',
  'libc.so.6',
  'ld-linux-x86-64.so.2',
  'ld-linux-aarch64.so.1',
]);

function compareVersions(a: string, b: string): number {
  const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const difference = (x[i] ?? 0) - (y[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

/** The highest version of each of GLIBC, GLIBCXX the file's dynamic symbols need. */
function highestSymbolVersions(objdump: string): Map<string, string> {
  const highest = new Map<string, string>();
  for (const [, name, version] of objdump.matchAll(/\((GLIBC|GLIBCXX)_([0-9.]+)\)/g)) {
    const current = highest.get(name!);
    if (current === undefined || compareVersions(version!, current) > 0)
      highest.set(name!, version!);
  }
  return highest;
}

function run(file: string, args: string[]): string {
  const result = spawnSync(file, args, { encoding: 'utf8' });
  if (result.error) throw result.error;
  assert.equal(result.status, 0, result.stderr);
  return result.stdout;
}

for (const { arch, machine } of PREBUILDS) {
  const file = path.join(ROOT, 'prebuilds', `linux-${arch}`, 'node.napi.glibc.node');

  test(`the linux-${arch} prebuilt addon runs on glibc ${OLDEST.GLIBC} and newer`, (t) => {
    if (!existsSync(file)) {
      missingComponent(t, `${path.relative(ROOT, file)} is not built; run 'make prebuilds'`);
      return;
    }
    assert.match(run('readelf', ['-h', file]), new RegExp(`Machine:\\s+${machine}`));
    const highest = highestSymbolVersions(run('objdump', ['-T', file]));
    assert.ok(highest.has('GLIBC'), 'objdump lists the glibc symbols');
    for (const [name, oldest] of Object.entries(OLDEST)) {
      const needed = highest.get(name) ?? '0';
      assert.ok(compareVersions(needed, oldest) <= 0, `needs ${name}_${needed}, over ${oldest}`);
    }
    const libraries = [...run('readelf', ['-d', file]).matchAll(/\(NEEDED\).*\[(.+)\]/g)].map(
      (match) => match[1]!,
    );
    assert.ok(libraries.includes('libnetfilter_conntrack.so.3'));
    assert.deepEqual(
      libraries.filter((library) => !ALLOWED_LIBRARIES.has(library)),
      [],
    );
  });
}

test('the x64 prebuilt addon loads on this Node and names its library version', (t) => {
  const file = path.join(ROOT, 'prebuilds', 'linux-x64', 'node.napi.glibc.node');
  if (process.arch !== 'x64' || !existsSync(file)) {
    missingComponent(t, `no x64 prebuilt addon to load on ${process.arch}; run 'make prebuilds'`);
    return;
  }
  const version = run(process.execPath, [
    '-p',
    `require(${JSON.stringify(file)}).conntrack.libraryVersion`,
  ]).trim();
  assert.match(version, /^1\.\d+\.\d+$/);
});

test("the loader's Node-API version is binding.gyp's", () => {
  const gyp = readFileSync(path.join(ROOT, 'binding.gyp'), 'utf8');
  assert.equal(/"NAPI_VERSION=(\d+)"/.exec(gyp)?.[1], String(NAPI_VERSION));
});

test('a Node without that Node-API version gets one line naming the lines that work', () => {
  assert.equal(napiProblem(String(NAPI_VERSION), 'v20.20.2'), undefined);
  assert.equal(napiProblem('10', 'v26.12.1'), undefined);
  assert.equal(
    napiProblem('7', 'v14.17.0'),
    'the conntrack addon needs Node-API version 8 or newer, Node.js v14.17.0 has 7; ' +
      'use Node.js 20, 22, 24 or 26',
  );
  assert.match(napiProblem(undefined, 'v0.12.0') ?? '', /has none/);
});

test('a missing libnetfilter_conntrack is named by its package, other failures by a rebuild', () => {
  for (const library of ['libnetfilter_conntrack.so.3', 'libnfnetlink.so.0', 'libmnl.so.0']) {
    assert.equal(
      addonLoadError(
        '/x/conntrack.node',
        `${library}: cannot open shared object file: No such file or directory\n    at ...`,
      ),
      'cannot load the conntrack addon: the library libnetfilter_conntrack is not installed; ' +
        "install it with 'apt-get install libnetfilter-conntrack3'",
    );
  }
  const other = addonLoadError('/x/conntrack.node', 'invalid ELF header\nstack');
  assert.match(
    other,
    /^cannot load the conntrack addon \/x\/conntrack\.node \(invalid ELF header\); /,
  );
  assert.match(other, /npm rebuild conntrack-exporter/);
  assert.doesNotMatch(other, /\n/);
});
