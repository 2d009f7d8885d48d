import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import test from 'node:test';

import { UsageError } from '../../src/errors';
import { formatHostPort, LISTEN_RULES, parseHostPort, TARGET_RULES } from '../../src/proxy/address';
import { buildProxyConfig, MAX_WORKERS, parseDuration } from '../../src/options/proxy';

test('addresses: host:port, [IPv6]:port, :port and names', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:3000', '--listen', LISTEN_RULES), {
    host: '127.0.0.1',
    port: 3000,
  });
  assert.deepEqual(parseHostPort('[::1]:80', '--target', TARGET_RULES), { host: '::1', port: 80 });
  assert.deepEqual(parseHostPort(':9090', '--listen', LISTEN_RULES), { host: '', port: 9090 });
  assert.deepEqual(parseHostPort(':9090', '--target', TARGET_RULES), {
    host: 'localhost',
    port: 9090,
  });
  assert.deepEqual(parseHostPort('db-1.internal:5432', '--target', TARGET_RULES), {
    host: 'db-1.internal',
    port: 5432,
  });
  assert.deepEqual(parseHostPort('127.0.0.1:0', '--listen', LISTEN_RULES).port, 0);
  assert.equal(formatHostPort({ host: '::1', port: 80 }), '[::1]:80');
  assert.equal(formatHostPort({ host: '', port: 80 }), ':80');
});

test('bad addresses say what is wrong, as a UsageError', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /expected HOST:PORT/],
    ['127.0.0.1', /port is missing/],
    ['127.0.0.1:http', /not a number/],
    ['127.0.0.1:70000', /out of range 0-65535/],
    ['::1:80', /IPv6 address needs brackets/],
    ['[::1]80', /expected \[IPv6\]:PORT/],
    ['[nope]:80', /not an IPv6 address/],
    ['bad host:80', /not a valid host name/],
    ['-x.example:80', /not a valid host name/],
  ];
  for (const [text, message] of cases) {
    assert.throws(
      () => parseHostPort(text, '--listen', LISTEN_RULES),
      (error: unknown) => error instanceof UsageError && message.test(error.message),
      text,
    );
  }
  assert.throws(
    () => parseHostPort('127.0.0.1:0', '--target', TARGET_RULES),
    /out of range 1-65535/,
  );
});

test('durations: Go syntax or plain seconds', () => {
  assert.equal(parseDuration('10s', '--dial-timeout'), 10_000);
  assert.equal(parseDuration('1m30s', '--dial-timeout'), 90_000);
  assert.equal(parseDuration('250ms', '--dial-timeout'), 250);
  assert.equal(parseDuration('1.5h', '--dial-timeout'), 5_400_000);
  assert.equal(parseDuration('2', '--dial-timeout'), 2000);
  assert.equal(parseDuration('0', '--drain-timeout'), 0);
  for (const bad of ['', 'soon', '10x', 's', '1m 30s', '-1s']) {
    assert.throws(() => parseDuration(bad, '--dial-timeout'), UsageError, bad);
  }
});

test('config: required addresses, checked options, a UUID id by default', () => {
  const good = { listen: ':3000', target: '127.0.0.1:3001', metrics: ':3002' };
  const config = buildProxyConfig(good, 'conventional', '--');
  assert.match(config.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(config.dialTimeoutMs, 10_000);
  assert.equal(config.drainTimeoutMs, 0);
  assert.equal(config.metricsPath, '/metrics');
  assert.notEqual(buildProxyConfig(good, 'conventional', '--').id, config.id);
  assert.equal(buildProxyConfig({ ...good, id: 'edge-1' }, 'legacy', '-').id, 'edge-1');

  const fails = (raw: object, message: RegExp, dash = '--'): void => {
    assert.throws(
      () => buildProxyConfig({ ...good, ...raw }, 'conventional', dash),
      (error: unknown) => error instanceof UsageError && message.test(error.message),
    );
  };
  fails({ target: undefined }, /^missing --target HOST:PORT/);
  fails({ target: undefined }, /^missing -target HOST:PORT/, '-');
  fails({ listen: '' }, /^missing --listen/);
  fails({ metrics: undefined }, /^missing --metrics/);
  fails({ listen: [':1', ':2'] }, /--listen is given more than once/);
  fails({ metricsPath: 'metrics' }, /must start with \//);
  fails({ dialTimeout: '0s' }, /--dial-timeout must be more than 0/);
  fails({ drainTimeout: 'later' }, /--drain-timeout "later"/);
  fails({ id: ' ' }, /--id must not be empty/);
});

test('config: --workers is one per core by default, a whole number from 1 to 64', () => {
  const good = { listen: ':3000', target: '127.0.0.1:3001', metrics: ':3002' };
  const workers = (value?: string, dash = '--'): number =>
    buildProxyConfig({ ...good, workers: value }, 'conventional', dash).workers;
  assert.equal(workers(), Math.min(availableParallelism(), MAX_WORKERS));
  assert.equal(workers('1'), 1);
  assert.equal(workers('64', '-'), 64);
  for (const bad of ['0', '65', '1.5', '-2', 'two', '', ' 2']) {
    assert.throws(
      () => workers(bad),
      (error: unknown) =>
        error instanceof UsageError &&
        error.message === `--workers ${JSON.stringify(bad)}: must be a whole number from 1 to 64`,
      bad,
    );
  }
  assert.throws(() => workers('0', '-'), /-workers "0": must be a whole number from 1 to 64$/);
});
