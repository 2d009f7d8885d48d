import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { scratchDir } from '../helpers/scratch';

// The built CLI, as users run it (make build compiles it before the tests).
const CLI = path.join(__dirname, '..', '..', 'dist', 'cli.js');

function run(...args: string[]) {
  return runWith({}, ...args);
}

function runWith(env: Record<string, string>, ...args: string[]) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { PATH: process.env.PATH, ...env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Bad input is refused before anything starts: one line, exit code 2, no stack. */
function assertRefused(args: string[], message: RegExp, env: Record<string, string> = {}): void {
  const { code, stderr, stdout } = runWith(env, ...args);
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

test('options from the environment and a config file, flags winning', () => {
  const dir = scratchDir('cte-cli-');
  const file = path.join(dir, 'exporter.conf');
  writeFileSync(file, 'listen-port 9102\nmax-hosts 20\nmode dump\n');
  const { code, stdout } = runWith(
    { CONNTRACK_EXPORTER_LISTEN_PORT: '9101', CONNTRACK_EXPORTER_PROXY_TARGET: 'x' },
    '--config',
    file,
    '--mode',
    'events',
    '--print-config',
  );
  assert.equal(code, 0);
  const line = (name: string) => stdout.split('\n').find((l) => l.startsWith(`${name} `)) ?? '';
  assert.match(
    line('listen-port'),
    /^listen-port 9101 +# environment variable CONNTRACK_EXPORTER_LISTEN_PORT/,
  );
  assert.match(line('max-hosts'), new RegExp(`^max-hosts 20 +# ${file} line 2`));
  assert.match(line('mode'), /^mode events +# command line/);
  assert.match(line('bind-address'), /^bind-address :: +# default/);
});

test('bad configuration from the environment or a file is refused, naming its source', () => {
  const dir = scratchDir('cte-cli-');
  const file = path.join(dir, 'bad.conf');
  writeFileSync(file, 'max-hosts 20\nmax-host 3\n');
  assertRefused(['--config', file], new RegExp(`${file} line 2: unknown option 'max-host'`));
  assertRefused(
    [],
    /environment variable CONNTRACK_EXPORTER_LISTEN_PROT: unknown option 'listen-prot'/,
    {
      CONNTRACK_EXPORTER_LISTEN_PROT: '1',
    },
  );
  assertRefused(
    [],
    /--listen-port \(from environment variable CONNTRACK_EXPORTER_LISTEN_PORT\): 'abc' is not a port number/,
    {
      CONNTRACK_EXPORTER_LISTEN_PORT: 'abc',
    },
  );
  assertRefused(
    [],
    /environment variable CONNTRACK_EXPORTER_INCLUDE_OWN_PORT: 'include-own-port' must be true or false, got 'maybe'/,
    {
      CONNTRACK_EXPORTER_INCLUDE_OWN_PORT: 'maybe',
    },
  );
  assertRefused(
    ['--config', path.join(dir, 'missing.conf')],
    /cannot read config file .*missing\.conf: no such file/,
  );
});
