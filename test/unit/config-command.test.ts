import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';

import yargs from 'yargs';

import { withConfigLayers, withOrigin } from '../../src/options/config-layers';
import { scratchDir } from '../helpers/scratch';

interface Parsed {
  listenPort: number;
  simple: boolean;
  hosts?: string[];
  name?: string;
}

/** Parses like a command of ours would: options, then the layers, strict. */
async function parse(args: string[], env: Record<string, string> = {}) {
  let printed = '';
  const origins = new Map<string, string>();
  const argv = (await withConfigLayers(
    yargs(args)
      .option('listen-port', { alias: 'listen', type: 'number', default: 9318 })
      .option('simple', { type: 'boolean', default: false })
      .option('hosts', { type: 'string', array: true })
      .option('name', { type: 'string' }),
    {
      args,
      env,
      prefix: 'APP_',
      otherPrefixes: ['APP_PROXY_'],
      origins,
      printConfig: (text) => (printed = text),
    },
  )
    .strict()
    .fail((message, error) => {
      throw error ?? new Error(message);
    })
    .parseAsync()) as unknown as Parsed;
  return { argv, printed, origins };
}

function configFile(name: string, text: string): string {
  const file = path.join(scratchDir('cte-layers-'), name);
  writeFileSync(file, text);
  return file;
}

test('precedence: flag over environment over file over default', async () => {
  const file = configFile('a.conf', 'listen-port 1001\nsimple true\nname from-file\n');
  const fromFile = await parse(['--config', file]);
  assert.equal(fromFile.argv.listenPort, 1001);
  assert.equal(fromFile.argv.simple, true);
  assert.equal(fromFile.argv.name, 'from-file');

  const fromEnv = await parse(['--config', file], { APP_LISTEN_PORT: '1002', APP_SIMPLE: 'false' });
  assert.equal(fromEnv.argv.listenPort, 1002);
  assert.equal(fromEnv.argv.simple, false);
  assert.equal(fromEnv.argv.name, 'from-file');

  const fromFlag = await parse(['--config', file, '--listen', '1003', '--no-simple'], {
    APP_LISTEN_PORT: '1002',
  });
  assert.equal(fromFlag.argv.listenPort, 1003);
  assert.equal(fromFlag.argv.simple, false);

  const defaults = await parse([]);
  assert.equal(defaults.argv.listenPort, 9318);
  assert.equal(defaults.argv.simple, false);
});

test('--print-config says where each value came from', async () => {
  const file = configFile('b.yaml', 'name: from-yaml\nhosts: [a, b]\n');
  const { printed } = await parse(['--config', file, '--print-config', '--simple'], {
    APP_LISTEN_PORT: '1002',
  });
  const lines = printed.trim().split('\n');
  assert.match(
    lines.find((l) => l.startsWith('listen-port')) ?? '',
    /^listen-port 1002 +# environment variable APP_LISTEN_PORT; env APP_LISTEN_PORT$/,
  );
  assert.match(lines.find((l) => l.startsWith('simple')) ?? '', /^simple true +# command line/);
  assert.match(
    lines.find((l) => l.startsWith('name')) ?? '',
    new RegExp(`^name from-yaml +# ${file} key 'name'`),
  );
  assert.match(lines.find((l) => l.startsWith('hosts')) ?? '', /^hosts a,b /);
  assert.equal(lines.length, 4, 'help, version, config and print-config are not settings');
});

test('the printed configuration is itself a valid config file', async () => {
  const { printed } = await parse(['--print-config', '--listen-port', '7', '--name', 'x']);
  const file = configFile('printed.conf', printed.replace(/ +#.*$/gm, ''));
  const { argv } = await parse(['--config', file]);
  assert.equal(argv.listenPort, 7);
  assert.equal(argv.name, 'x');
  assert.equal(argv.hosts, undefined, 'an unset option stays unset');
});

test('unknown variables are refused; other commands’ variables are left alone', async () => {
  await assert.rejects(
    parse([], { APP_LISTEN_PROT: '1' }),
    /environment variable APP_LISTEN_PROT: unknown option 'listen-prot'/,
  );
  const { argv } = await parse([], { APP_PROXY_TARGET: '192.0.2.1:80', OTHER_X: '1' });
  assert.equal(argv.listenPort, 9318);
});

test('bad files are refused with their line', async () => {
  await assert.rejects(
    parse(['--config', configFile('c.conf', 'simple yes\nsimpel no\n')]),
    /c\.conf line 2: unknown option 'simpel'/,
  );
  await assert.rejects(
    parse(['--config', configFile('d.conf', 'listen-port many\n')]),
    /d\.conf line 1: 'listen-port' must be a number, got 'many'/,
  );
  await assert.rejects(
    parse(['--config', '/nonexistent.conf']),
    /cannot read config file \/nonexistent\.conf: no such file/,
  );
});

test('a bad value from the environment names the variable', () => {
  const origins = new Map([['listen-port', 'environment variable APP_LISTEN_PORT']]);
  assert.equal(
    withOrigin("--listen-port: 'x' is not a port number", origins),
    "--listen-port (from environment variable APP_LISTEN_PORT): 'x' is not a port number",
  );
  assert.equal(withOrigin("--bind-address: 'y' is bad", origins), "--bind-address: 'y' is bad");
});
