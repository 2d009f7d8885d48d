import assert from 'node:assert/strict';
import test from 'node:test';

import { UsageError } from '../../src/errors';
import { DROP_IN_FLAGS } from '../../src/proxy/drop-in';
import { goFlagUsage, parseGoFlags } from '../../src/options/go-flags';

function values(args: string[]): Record<string, string> {
  const result = parseGoFlags(args, DROP_IN_FLAGS);
  assert.equal(result.help, false);
  return result.help ? {} : Object.fromEntries(result.values);
}

test('the original command line parses verbatim', () => {
  // As a shell passes `-listen="127.0.0.1:3000"`: the quotes are gone.
  assert.deepEqual(
    values(['-listen=127.0.0.1:3000', '-target=127.0.0.1:3001', '-metrics=127.0.0.1:3002']),
    { listen: '127.0.0.1:3000', target: '127.0.0.1:3001', metrics: '127.0.0.1:3002' },
  );
  // As a manifest without a shell passes it: the quotes are still there.
  assert.deepEqual(values(['-listen="127.0.0.1:3000"', "-target='127.0.0.1:3001'"]), {
    listen: '127.0.0.1:3000',
    target: '127.0.0.1:3001',
  });
});

test('Go flag forms: -f v, --f=v, --f v, last one wins, -- ends flags', () => {
  assert.deepEqual(values(['-listen', ':1', '--target=:2', '--metrics', ':3', '-listen=:4']), {
    listen: ':4',
    target: ':2',
    metrics: ':3',
  });
  assert.deepEqual(values(['-id=a', '--']), { id: 'a' });
  assert.deepEqual(values(['-dial-timeout=5s', '-drain-timeout', '30s']), {
    'dial-timeout': '5s',
    'drain-timeout': '30s',
  });
});

test('help, and Go-worded errors for bad flags', () => {
  assert.deepEqual(parseGoFlags(['-h'], DROP_IN_FLAGS), { help: true });
  assert.deepEqual(parseGoFlags(['--help'], DROP_IN_FLAGS), { help: true });
  const fails = (args: string[], message: string): void => {
    assert.throws(
      () => parseGoFlags(args, DROP_IN_FLAGS),
      (error: unknown) => error instanceof UsageError && error.message === message,
    );
  };
  fails(['-lisen=:1'], 'flag provided but not defined: -lisen');
  fails(['-target'], 'flag needs an argument: -target');
  fails(['---listen=:1'], 'bad flag syntax: ---listen=:1');
  fails(['-=x'], 'bad flag syntax: -=x');
  fails(['-listen=:1', 'extra'], 'unexpected argument "extra"; every option is a -flag');
  fails(['--', 'extra'], 'unexpected argument "extra"; every option is a -flag');
});

test('usage lists every flag the Go way', () => {
  const usage = goFlagUsage('tcp-metrics-proxy', DROP_IN_FLAGS);
  assert.match(usage, /^Usage of tcp-metrics-proxy:\n/);
  for (const flag of DROP_IN_FLAGS) assert.match(usage, new RegExp(`\\n  -${flag.name} string\\n`));
  assert.match(usage, /\(default "10s"\)/);
});

test('bool flags: alone they mean true; a value needs =', () => {
  const specs = [
    { name: 'simple', usage: 'one total', boolean: true },
    { name: 'port', usage: 'port' },
  ];
  const parsed = parseGoFlags(['-simple', '--port', '80'], specs);
  assert.deepEqual(parsed, {
    help: false,
    values: new Map([
      ['simple', 'true'],
      ['port', '80'],
    ]),
  });
  const explicit = parseGoFlags(['--simple=false'], specs);
  assert.deepEqual(explicit, { help: false, values: new Map([['simple', 'false']]) });
  // As in Go, a bool flag does not take the next argument as its value.
  assert.throws(() => parseGoFlags(['-simple', 'false'], specs), /unexpected argument "false"/);
  assert.match(goFlagUsage('x', specs), /^ {2}-simple$/m);
});
