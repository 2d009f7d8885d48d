/**
 * Option values that used to be misread, hang the program or end it with a
 * stack: each is refused in one line (exit code 2 from the CLI), or taken
 * as documented.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';

import { UsageError } from '../../src/errors';
import { readConfigFile } from '../../src/options/config-file';
import { readEnvironment } from '../../src/options/environment';
import { layer, OptionShape } from '../../src/options/layers';
import { buildProxyConfig } from '../../src/options/proxy';
import { readRegularFile } from '../../src/options/regular-file';
import { resolveSettings } from '../../src/longterm-drop-in';
import { scratchDir } from '../helpers/scratch';

const CLI = path.join(__dirname, '..', '..', 'dist', 'cli.js');
const DROP_IN = path.join(__dirname, '..', '..', 'dist', 'bin', 'tcp-established-exporter.js');
const PROXY = ['proxy', '--listen', '127.0.0.1:1', '--target', '127.0.0.1:2', '--metrics', ':3'];

function run(script: string, args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [script, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: process.env.PATH, ...env },
  });
  return { code: result.status, stderr: result.stderr, stdout: result.stdout };
}

/** Exit code 2 and exactly one line on stderr, matching `message`. */
function refusedByCli(args: string[], message: RegExp, env: Record<string, string> = {}) {
  const { code, stderr } = run(CLI, args, env);
  assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
  assert.match(stderr, /^conntrack-exporter: [^\n]*\n$/, args.join(' '));
  assert.match(stderr, message, args.join(' '));
}

function tempFile(name: string, content: string | Buffer): string {
  const file = path.join(scratchDir('cte-input-'), name);
  writeFileSync(file, content);
  return file;
}

test('a duration beyond what a timer holds is refused, not clamped to 1 ms', () => {
  const good = { listen: ':3000', target: '127.0.0.1:3001', metrics: ':3002' };
  assert.throws(
    () => buildProxyConfig({ ...good, drainTimeout: '1000h' }, 'conventional', '--'),
    /^UsageError: --drain-timeout: '1000h' is longer than a timer can hold; give 596h or less$/,
  );
  assert.equal(
    buildProxyConfig({ ...good, drainTimeout: '596h' }, 'conventional', '--').drainTimeoutMs,
    596 * 3_600_000,
  );
  refusedByCli([...PROXY, '--drain-timeout', '1000h'], /--drain-timeout: '1000h' is longer/);
  refusedByCli(
    ['--resync-interval', '1000h'],
    /--resync-interval: '1000h' is not an interval.*596h/,
  );
});

test('a duration finer than a millisecond is one line, not a RangeError', () => {
  for (const value of ['1.5ms', '0.0001', '500us', '1ns']) {
    refusedByCli(
      [...PROXY, '--dial-timeout', value],
      new RegExp(`--dial-timeout: '${value}' is finer than a millisecond`),
    );
  }
  refusedByCli(['--dns-timeout', '1.5ms'], /--dns-timeout: '1.5ms' is finer than a millisecond/);
});

test('what is not a regular file is refused at once; a read stops at its limit', () => {
  const dir = scratchDir('cte-input-');
  const fifo = path.join(dir, 'fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  assert.throws(() => readRegularFile(dir, 100), /^Error: a directory, not a regular file$/);
  assert.throws(() => readRegularFile(fifo, 100), /^Error: a FIFO, not a regular file$/);
  assert.throws(() => readRegularFile('/dev/zero', 100), /^Error: a character device/);
  assert.throws(() => readRegularFile(path.join(dir, 'none'), 100), /^Error: no such file$/);
  // A /proc file says it is empty and is not: the limit holds while reading.
  assert.throws(() => readRegularFile('/proc/self/maps', 100), /^Error: larger than 100 bytes$/);
  assert.equal(readRegularFile(tempFile('a', 'x'.repeat(100)), 100).length, 100);
  assert.throws(() => readRegularFile(tempFile('b', 'x'.repeat(101)), 100), /larger than 100/);
});

test('--netns and --config naming a FIFO: refused, no hang', () => {
  const dir = scratchDir('cte-input-');
  const fifo = path.join(dir, 'fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  refusedByCli(['--config', fifo], /cannot read config file .*: a FIFO, not a regular file/);
  const netns = run(CLI, ['--netns', fifo]);
  assert.equal(netns.code, 1, netns.stderr);
  assert.match(
    netns.stderr,
    /^conntrack-exporter: --netns: cannot watch .*fifo: a FIFO, not a network namespace; give \/var\/run\/netns\/NAME or \/proc\/PID\/ns\/net\n$/,
  );
});

test('a list option given on two lines of a file keeps both; a scalar given twice is an error', () => {
  const options: Record<string, OptionShape> = {
    'ignore-hosts': { kind: 'array' },
    'listen-port': { kind: 'number', aliases: ['listen'] },
  };
  const lines = readConfigFile(
    tempFile('a.conf', 'ignore-hosts 10.0.0.1\nignore-hosts 10.0.0.2\n'),
  );
  assert.deepEqual(layer(options, lines).values['ignore-hosts'], ['10.0.0.1', '10.0.0.2']);

  const json = tempFile('a.json', '{"listen-port": 1, "listenPort": 2}');
  assert.throws(
    () => layer(options, readConfigFile(json)),
    (error: unknown) =>
      error instanceof UsageError &&
      error.message ===
        `${json} key 'listen-port' and ${json} key 'listenPort' both set 'listen-port'; keep one of them`,
  );
  const same = tempFile('b.json', '{"listen-port": 1, "x": {"listen-port": 3}, "listen-port": 2}');
  assert.throws(
    () => readConfigFile(same),
    (error: unknown) =>
      error instanceof UsageError &&
      error.message === `${same} key 'listen-port' is given twice; keep one of them`,
  );
  const yaml = tempFile('b.yaml', 'listen-port: 1\nlisten-port: 2\n');
  assert.throws(
    () => readConfigFile(yaml),
    /b\.yaml line 2 is not valid YAML: Map keys must be unique/,
  );
  const environment = readEnvironment({ X_LISTEN: '1', X_LISTEN_PORT: '2' }, 'X_');
  assert.throws(
    () => layer(options, [], environment),
    /environment variable X_LISTEN.* and environment variable X_LISTEN.* both set 'listen-port'/,
  );
  // Across sources, the later one still wins.
  const layered = layer(options, readConfigFile(tempFile('b.conf', 'listen 1\n')), [
    { name: 'listen-port', value: '2', origin: 'environment variable X_LISTEN_PORT' },
  ]);
  assert.equal(layered.values['listen-port'], 2);
});

test('the CLI: lists add up, a repeated scalar names the command line', () => {
  const file = tempFile('a.conf', 'ignore-hosts 10.0.0.1\nignore-hosts 10.0.0.2\n');
  const printed = run(CLI, ['--config', file, '--print-config']);
  assert.equal(printed.code, 0, printed.stderr);
  assert.match(printed.stdout, /^ignore-hosts 10\.0\.0\.1,10\.0\.0\.2 /m);
  refusedByCli(
    ['--listen-port', '1', '--listen-port', '2'],
    /: --listen-port is given more than once on the command line \('1', '2'\); give it once$/m,
    { CONNTRACK_EXPORTER_LISTEN_PORT: '9100' },
  );
  refusedByCli(['--listen-port', 'x'], /^conntrack-exporter: --listen-port: 'x' is not a port/, {
    CONNTRACK_EXPORTER_LISTEN_PORT: '9100',
  });
  refusedByCli([], /both set 'listen-port'/, {
    CONNTRACK_EXPORTER_LISTEN: '9100',
    CONNTRACK_EXPORTER_LISTEN_PORT: '9101',
  });
});

test('messages name what the user wrote', () => {
  refusedByCli(['foo', 'bar'], /: unexpected arguments 'foo', 'bar' \(settings are given as/);
  refusedByCli(
    [...PROXY, '--dial-timeout', '-1s'],
    /: --dial-timeout "-1s": expected a duration such as 10s/,
  );
  refusedByCli(
    ['--listen-path', '/métrics'],
    /--listen-path: '\/métrics' is not a usable URL path/,
  );
  refusedByCli([...PROXY, '--metrics-path', '/métrics'], /--metrics-path: '\/métrics' is not/);

  const yaml = tempFile('a.yaml', 'listen-port: !port 9100\n');
  refusedByCli(['--config', yaml], /a\.yaml line 1 is not valid YAML: Unresolved tag: !port$/m);
});

test('a bare no-NAME line turns NAME off; a JSON file with a byte order mark is read', () => {
  const options: Record<string, OptionShape> = { 'resolve-hosts': { kind: 'boolean' } };
  const bare = readConfigFile(tempFile('a.conf', 'no-resolve-hosts\n'));
  assert.deepEqual(layer(options, bare).values, { 'resolve-hosts': false });
  const bom = readConfigFile(tempFile('a.json', '\uFEFF{"resolve-hosts": false}'));
  assert.deepEqual(layer(options, bom).values, { 'resolve-hosts': false });
});

test("tcp_established_exporter's messages name its own flags", () => {
  assert.throws(
    () => resolveSettings(['-conf', '/nonexistent/x.conf'], {}),
    /cannot read config file \/nonexistent\/x\.conf: no such file; check the path given to -conf$/,
  );
  assert.throws(
    () => resolveSettings(['-listen', '0'], {}),
    /^UsageError: -listen: '0' is not a port number/,
  );
  assert.throws(
    () => resolveSettings([], { PORT: '70000' }),
    /^UsageError: -port \(from environment variable PORT\): '70000' is not a port number/,
  );
  const { code, stderr } = run(DROP_IN, ['-duration', '-5']);
  assert.equal(code, 2, stderr);
  assert.equal(
    stderr,
    "tcp_established_exporter: -duration: '-5' is not a whole number of at least 0\n",
  );
});
