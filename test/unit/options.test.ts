import assert from 'node:assert/strict';
import test from 'node:test';

import { UsageError } from '../../src/errors';
import { checkBindAddress, checkPath, checkPort, listOf } from '../../src/options/checks';

test('ports are whole numbers from 1 to 65535', () => {
  assert.equal(checkPort(9318, '--listen-port'), 9318);
  assert.equal(checkPort('1', '--listen-port'), 1);
  for (const bad of [0, 65536, -1, 1.5, NaN, 'abc', '']) {
    assert.throws(
      () => checkPort(bad, '--listen-port'),
      (error: unknown) =>
        error instanceof UsageError &&
        /^--listen-port: '.*' is not a port number/.test(error.message),
      String(bad),
    );
  }
});

test('bind addresses are IPv4 or IPv6 addresses, brackets allowed', () => {
  assert.equal(checkBindAddress('0.0.0.0', '--bind-address'), '0.0.0.0');
  assert.equal(checkBindAddress('::', '--bind-address'), '::');
  assert.equal(checkBindAddress('[::1]', '--bind-address'), '::1');
  assert.throws(() => checkBindAddress('localhost', '--bind-address'), /is not an IP address/);
  assert.throws(() => checkBindAddress('300.1.1.1', '--bind-address'), UsageError);
});

test('metrics paths are absolute and plain', () => {
  assert.equal(checkPath('/metrics', '--listen-path'), '/metrics');
  assert.equal(checkPath('/a/b', '--listen-path'), '/a/b');
  for (const bad of ['metrics', '/', '/a b', '/a?b', '']) {
    assert.throws(() => checkPath(bad, '--listen-path'), UsageError, bad);
  }
});

test('lists come from repeated flags and commas', () => {
  assert.deepEqual(listOf(undefined), []);
  assert.deepEqual(listOf('a, b,,c'), ['a', 'b', 'c']);
  assert.deepEqual(listOf(['a,b', 'c']), ['a', 'b', 'c']);
});
