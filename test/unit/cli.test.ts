import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import test from 'node:test';

// The built CLI, as users run it (make build compiles it before the tests).
const CLI = path.join(__dirname, '..', '..', 'dist', 'cli.js');

function run(...args: string[]) {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Bad input is refused before anything starts: one line, exit code 2, no stack. */
function assertRefused(args: string[], message: RegExp): void {
  const { code, stderr, stdout } = run(...args);
  assert.equal(code, 2, `${args.join(' ')}: exit code (stderr: ${stderr})`);
  assert.equal(stdout, '');
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line, got: ${stderr}`);
  assert.match(lines[0] ?? '', /^conntrack-exporter: /);
  assert.match(lines[0] ?? '', message);
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
}

test('an unknown option is refused', () => {
  assertRefused(['--listen-prot=9100'], /unknown option --listen-prot; see --help$/);
});

test('a port out of range is refused', () => {
  assertRefused(['--listen-port=70000'], /--listen-port: '70000' is not a port number/);
  assertRefused(['--listen', 'http'], /--listen-port: 'http' is not a port number/);
});

test('a malformed CIDR is refused', () => {
  assertRefused(
    ['--ignore-hosts=192.0.2.0/24,198.51.100.0/99'],
    /'198\.51\.100\.0\/99' is not a valid CIDR/,
  );
});

test('a bind address that is not an IP is refused', () => {
  assertRefused(['--bind-address=example'], /--bind-address: 'example' is not an IP address/);
});

test('--version prints the package version', () => {
  const { code, stdout } = run('--version');
  assert.equal(code, 0);
  assert.match(stdout.trim(), /^\d+\.\d+\.\d+/);
});

test('--help lists the options and the original names', () => {
  const { code, stdout } = run('--help');
  assert.equal(code, 0);
  for (const option of [
    '--listen-port',
    '--listen',
    '--bind-address',
    '--listen-path',
    '--ignore-hosts',
    '--debug',
  ]) {
    assert.ok(stdout.includes(option), option);
  }
});
