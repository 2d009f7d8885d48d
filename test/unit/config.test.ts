import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';

import { readEnvironment, variableFor } from '../../src/options/environment';
import { parseLines, readConfigFile } from '../../src/options/config-file';
import { layer, OptionShape } from '../../src/options/layers';
import { kebabCase } from '../../src/options/setting';
import { UsageError } from '../../src/errors';
import { scratchDir } from '../helpers/scratch';

const OPTIONS: Record<string, OptionShape> = {
  'listen-port': { kind: 'number', aliases: ['listen'] },
  simple: { kind: 'boolean' },
  'ignore-hosts': { kind: 'array' },
  'bind-address': { kind: 'string' },
};

function tempFile(name: string, text: string): string {
  const file = path.join(scratchDir('cte-config-'), name);
  writeFileSync(file, text);
  return file;
}

test('option names in every spelling become kebab-case', () => {
  assert.equal(kebabCase('listen_port'), 'listen-port');
  assert.equal(kebabCase('listenPort'), 'listen-port');
  assert.equal(kebabCase('LISTEN_PORT'), 'listen-port');
  assert.equal(kebabCase('simple'), 'simple');
});

test('the line format: name value, name=value, comments, quotes, bare flags', () => {
  const settings = parseLines(
    'sample.conf',
    [
      '# a comment',
      '',
      'simple true',
      'tcpv6=false',
      'listen_port   9101',
      'bind-address "::"',
      'debug',
    ].join('\n'),
  );
  assert.deepEqual(settings, [
    { name: 'simple', value: 'true', origin: 'sample.conf line 3' },
    { name: 'tcpv6', value: 'false', origin: 'sample.conf line 4' },
    { name: 'listen-port', value: '9101', origin: 'sample.conf line 5' },
    { name: 'bind-address', value: '::', origin: 'sample.conf line 6' },
    { name: 'debug', value: 'true', origin: 'sample.conf line 7' },
  ]);
});

test('a line that is not name value is refused with its line number', () => {
  assert.throws(
    () => parseLines('x.conf', 'simple true\n= 3\n'),
    /^UsageError: x\.conf line 2: expected 'name value', got '= 3'$/,
  );
});

test('JSON and YAML files by extension', () => {
  const json = tempFile('c.json', '{"listenPort": 9101, "ignore_hosts": ["192.0.2.1"]}');
  assert.deepEqual(readConfigFile(json), [
    { name: 'listen-port', value: 9101, origin: `${json} key 'listenPort'` },
    { name: 'ignore-hosts', value: ['192.0.2.1'], origin: `${json} key 'ignore_hosts'` },
  ]);
  const yaml = tempFile('c.yaml', 'listen-port: 9102\nsimple: true\n');
  assert.deepEqual(
    readConfigFile(yaml).map((s) => [s.name, s.value]),
    [
      ['listen-port', 9102],
      ['simple', true],
    ],
  );
});

test('unreadable and malformed files are one clear error', () => {
  assert.throws(
    () => readConfigFile('/nonexistent/x.conf'),
    /cannot read config file \/nonexistent\/x\.conf: no such file; check the path given to --config/,
  );
  assert.throws(() => readConfigFile(tempFile('bad.json', '{nope')), /bad\.json is not valid JSON/);
  assert.throws(
    () => readConfigFile(tempFile('bad.yml', 'a: [1,\n')),
    /bad\.yml line \d+ is not valid YAML/,
  );
  assert.throws(() => readConfigFile(tempFile('list.json', '[1,2]')), /must hold a mapping/);
});

test('environment variables with the prefix, and only those', () => {
  const settings = readEnvironment(
    {
      CONNTRACK_EXPORTER_LISTEN_PORT: '9101',
      CONNTRACK_EXPORTER_SIMPLE: 'true',
      PATH: '/bin',
      CONNTRACK: 'x',
    },
    'CONNTRACK_EXPORTER_',
  );
  assert.deepEqual(settings, [
    {
      name: 'listen-port',
      value: '9101',
      origin: 'environment variable CONNTRACK_EXPORTER_LISTEN_PORT',
    },
    { name: 'simple', value: 'true', origin: 'environment variable CONNTRACK_EXPORTER_SIMPLE' },
  ]);
  assert.equal(variableFor('CONNTRACK_EXPORTER_', 'listen-port'), 'CONNTRACK_EXPORTER_LISTEN_PORT');
});

test('the environment wins over the file; values take the option type', () => {
  const file = parseLines(
    'a.conf',
    'listen-port 9101\nsimple yes\nignore-hosts 192.0.2.1,192.0.2.2\nbind-address ::1',
  );
  const environment = readEnvironment({ X_LISTEN: '9102' }, 'X_');
  const { values, origins } = layer(OPTIONS, file, environment);
  assert.deepEqual(values, {
    'listen-port': 9102,
    simple: true,
    'ignore-hosts': ['192.0.2.1,192.0.2.2'],
    'bind-address': '::1',
  });
  assert.equal(origins.get('listen-port'), 'environment variable X_LISTEN');
  assert.equal(origins.get('simple'), 'a.conf line 2');
});

test('unknown names and wrong types name their source', () => {
  const check = (settings: Parameters<typeof layer>[1], message: RegExp) =>
    assert.throws(
      () => layer(OPTIONS, settings, []),
      (e: unknown) => e instanceof UsageError && message.test(e.message),
    );
  check(
    parseLines('a.conf', 'simple true\nsimpel true'),
    /^a\.conf line 2: unknown option 'simpel'; see --help/,
  );
  check(
    parseLines('a.conf', 'listen-port ninety'),
    /^a\.conf line 1: 'listen-port' must be a number, got 'ninety'$/,
  );
  check(
    parseLines('a.conf', 'simple maybe'),
    /^a\.conf line 1: 'simple' must be true or false, got 'maybe'$/,
  );
  check([{ name: 'bind-address', value: { a: 1 }, origin: 'c.json key x' }], /must be a string/);
  assert.throws(
    () => layer(OPTIONS, [], readEnvironment({ X_LISTEN_PROT: '1' }, 'X_')),
    /^UsageError: environment variable X_LISTEN_PROT: unknown option 'listen-prot'/,
  );
});

test('a value that cannot be turned into text is still refused in one clear line', () => {
  // Found by the property test: String() throws on { toString: {} }.
  for (const kind of ['number', 'string', 'boolean', 'array'] as const) {
    assert.throws(
      () =>
        layer(
          { x: { kind } },
          [{ name: 'x', value: { toString: {} }, origin: 'c.json key x' }],
          [],
        ),
      (error: unknown) =>
        error instanceof UsageError &&
        /^c\.json key x: 'x' must be .*, got '\{"toString":\{\}\}'$/.test(error.message),
      kind,
    );
  }
});
