/**
 * The configuration parsers on arbitrary input: the config file (line
 * format, JSON, YAML), the layering of file and environment, and the web
 * config file. Each gives a value or one UsageError, never another
 * exception or a hang.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { TestContext } from 'node:test';

import fc from 'fast-check';
import { stringify } from 'yaml';

import { readEnvironment } from '../../src/options/environment';
import { parseLines, readConfigFile } from '../../src/options/config-file';
import { layer, OptionShape } from '../../src/options/layers';
import { Setting } from '../../src/options/setting';
import { UsageError } from '../../src/errors';
import { parseWebConfig } from '../../src/http/web-config';

function valueOrUsageError<T>(parse: () => T, oneLine = true): T | undefined {
  try {
    return parse();
  } catch (error) {
    assert.ok(error instanceof UsageError, String((error as Error)?.stack ?? error));
    if (oneLine) assert.ok(!error.message.includes('\n'), `one line: ${error.message}`);
    return undefined;
  }
}

/** Text built from the pieces the formats care about, so that it gets near valid input. */
const configLike = fc
  .array(
    fc.oneof(
      fc.constantFrom('listen-port', 'listen_port', 'debug', '#', '=', ' ', '\n', '\r\n', '"', "'"),
      fc.constantFrom(
        ':',
        '- ',
        '{',
        '}',
        '[',
        ']',
        '&a',
        '*a',
        '<<: *a',
        '!!binary',
        '---',
        '9318',
      ),
      fc.string({ maxLength: 8 }),
    ),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(''));
const anyText = fc.oneof(configLike, fc.string({ unit: 'binary', maxLength: 300 }));
const yamlOf = fc.anything({ maxDepth: 3 }).map((value) => {
  try {
    // undefined for a value YAML cannot hold at the top level.
    return (stringify(value) as string | undefined) ?? '';
  } catch {
    return String(value);
  }
});

const OPTIONS: Record<string, OptionShape> = {
  'listen-port': { kind: 'number', aliases: ['listen'] },
  debug: { kind: 'boolean' },
  'bind-address': { kind: 'string' },
  'ignore-hosts': { kind: 'array' },
};

test('the line format: settings or one UsageError naming the line', () => {
  fc.assert(
    fc.property(anyText, (text) => {
      const settings = valueOrUsageError(() => parseLines('app.conf', text));
      for (const setting of settings ?? []) {
        assert.match(setting.origin, /^app\.conf line \d+$/);
        assert.equal(typeof setting.name, 'string');
      }
    }),
    { numRuns: 3000 },
  );
});

function configFilesProperty(names: string[], oneLine: boolean) {
  return (t: TestContext) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'config-property-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    fc.assert(
      fc.property(fc.constantFrom(...names), fc.oneof(anyText, yamlOf, fc.json()), (name, text) => {
        const file = path.join(dir, name);
        writeFileSync(file, text);
        valueOrUsageError(() => readConfigFile(file), oneLine);
      }),
      { numRuns: 1500 },
    );
  };
}

test(
  'config files of every format: settings or a UsageError',
  configFilesProperty(['app.conf', 'app.json', 'app.yaml'], false),
);
test(
  'line-format and YAML config files: every UsageError is one line',
  configFilesProperty(['app.conf', 'app.yaml'], true),
);
// Found by this test: V8's JSON.parse messages quote the bad input, newlines
// included (";\n" used to give a two-line error).
test('JSON config files: every UsageError is one line', configFilesProperty(['app.json'], true));

test('layering arbitrary values over the option table: typed values or one UsageError', () => {
  const setting = fc.record({
    name: fc.oneof(
      fc.constantFrom(...Object.keys(OPTIONS), 'listen'),
      fc.string({ maxLength: 10 }),
    ),
    value: fc.anything({ maxDepth: 2 }),
    origin: fc.constant('test'),
  });
  fc.assert(
    fc.property(
      fc.array(setting, { maxLength: 5 }),
      fc.array(setting, { maxLength: 5 }),
      (file, env) => {
        const layered = valueOrUsageError(() =>
          layer(OPTIONS, file as Setting[], env as Setting[]),
        );
        if (layered === undefined) return;
        for (const [name, value] of Object.entries(layered.values)) {
          const kind = OPTIONS[name]?.kind;
          if (kind === 'number') assert.ok(Number.isFinite(value));
          if (kind === 'boolean') assert.equal(typeof value, 'boolean');
          if (kind === 'string') assert.equal(typeof value, 'string');
          if (kind === 'array') assert.ok(Array.isArray(value));
        }
      },
    ),
    { numRuns: 3000 },
  );
});

test('environment variables of any name and value are read without error', () => {
  fc.assert(
    fc.property(
      fc.dictionary(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 })),
      (env) => {
        for (const setting of readEnvironment(env, 'CONNTRACK_EXPORTER_')) {
          assert.equal(typeof setting.name, 'string');
        }
      },
    ),
  );
});

test('the web config file: a config or one UsageError naming the file', () => {
  const webLike = fc
    .array(
      fc.oneof(
        fc.constantFrom('tls_server_config:\n', 'basic_auth_users:\n', 'http_server_config:\n'),
        fc.constantFrom('rate_limit:\n', '  cert_file: a\n', '  key_file: b\n', '  cert: x\n'),
        fc.constantFrom('  client_auth_type: RequireAnyClientCert\n', '  min_version: TLS13\n'),
        fc.constantFrom('  headers:\n', '    X-Frame-Options: deny\n', '  interval: 1s\n'),
        fc.constantFrom('  client_auth_type: "a\\nb"\n', '"x\\ny": 1\n', '  "k\\r\\n": {}\n'),
        fc.constantFrom(
          '  burst: 2\n',
          '  alice: $2y$04$Lb.KX50/LgeSdjonXHCqS.RJNe99N4a5I8SGRqObtexoEJyBaBA66\n',
        ),
        fc.string({ maxLength: 10 }),
      ),
      { maxLength: 12 },
    )
    .map((parts) => parts.join(''));
  fc.assert(
    fc.property(fc.oneof(webLike, yamlOf, anyText), (text) => {
      const config = valueOrUsageError(() => parseWebConfig(text, '/etc/web.yml'));
      if (config === undefined) return;
      for (const hash of config.users.values()) assert.match(hash, /^\$2/);
    }),
    { numRuns: 3000 },
  );
});
