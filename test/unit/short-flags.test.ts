import assert from 'node:assert/strict';
import test from 'node:test';

import { HostFilter } from '../../src/model/host-filter';
import { listOf } from '../../src/options/checks';
import { expandShortFlags } from '../../src/options/short-flags';
import { runAs } from '../helpers/run-as';

test('the C++ original short flags, spelled out as getopt reads them', () => {
  assert.deepEqual(expandShortFlags(['-l', '9101', '-b', '::1', '-p', '/m']), [
    '--listen-port',
    '9101',
    '--bind-address',
    '::1',
    '--listen-path',
    '/m',
  ]);
  assert.deepEqual(expandShortFlags(['-l9101', '-ed', '-f', 'json', '-i', '10.0.0.1 10.0.0.2']), [
    '--listen-port',
    '9101',
    '--log-events',
    '--debug',
    '--log-events-format',
    'json',
    '--ignore-hosts',
    '10.0.0.1 10.0.0.2',
  ]);
  assert.deepEqual(expandShortFlags(['-dl', '9101']), ['--debug', '--listen-port', '9101']);
  // Left for the parser: help, unknown letters, long flags, anything after --.
  assert.deepEqual(expandShortFlags(['-h', '-x', '--listen-port=1', '--', '-l']), [
    '-h',
    '-x',
    '--listen-port=1',
    '--',
    '-l',
  ]);
});

test('--ignore-hosts: commas, spaces and tabs all separate', () => {
  const list = listOf(['10.0.0.1 10.0.0.2,192.0.2.0/24\t10.0.0.3 , 10.0.0.4', '10.0.0.5']);
  assert.deepEqual(list, [
    '10.0.0.1',
    '10.0.0.2',
    '192.0.2.0/24',
    '10.0.0.3',
    '10.0.0.4',
    '10.0.0.5',
  ]);
  const filter = HostFilter.parse(['10.0.0.1 192.0.2.0/24']);
  assert.ok(filter.matches('10.0.0.1', 80));
  assert.ok(filter.matches('192.0.2.7', 80));
  assert.ok(!filter.matches('10.0.0.2', 80));
});

test('conntrack_exporter takes the short flags; conntrack-exporter does not', () => {
  const args = [
    '-l',
    '9101',
    '-b',
    '127.0.0.1',
    '-p',
    '/m',
    '-i',
    '10.0.0.1 10.0.0.2',
    '-e',
    '-f',
    'json',
    '-d',
  ];
  const result = runAs('conntrack_exporter', [...args, '--print-config']);
  assert.equal(result.status, 0, result.stderr);
  const given = result.stdout
    .split('\n')
    .filter((line) => line.includes('# command line'))
    .map((line) => line.replace(/ +# command line.*$/, ''));
  assert.deepEqual(given.sort(), [
    'bind-address 127.0.0.1',
    'debug true',
    'ignore-hosts 10.0.0.1 10.0.0.2',
    'listen-path /m',
    'listen-port 9101',
    'log-events true',
    'log-events-format json',
  ]);
  const help = runAs('conntrack_exporter', ['-h']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--listen-port/);

  const refused = runAs('conntrack-exporter', ['-l', '9101']);
  assert.equal(refused.status, 2);
  assert.equal(refused.stderr, 'conntrack-exporter: unknown option -l; see --help\n');
});
