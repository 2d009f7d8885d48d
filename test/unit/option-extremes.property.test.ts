/**
 * Every duration and size option at its extremes, and every file option
 * given what is not a file to read: a checked value in range, or one line
 * of error of the class the CLI turns into exit code 2 (1 for --netns, like
 * its other namespace errors); never a hang, a RangeError or a clamped timer.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';

import fc from 'fast-check';
import yargs from 'yargs';

import { EnvironmentError, UsageError } from '../../src/errors';
import { loadWebConfig } from '../../src/http/web-config';
import { resolveSettings } from '../../src/longterm-drop-in';
import { checkNamespaceFile } from '../../src/options/checks';
import { readConfigFile } from '../../src/options/config-file';
import { MAX_TIMER_MS } from '../../src/options/duration';
import { exporterCommandOptions } from '../../src/options/exporter';
import { buildProxyConfig } from '../../src/options/proxy';
import { makeCertificates } from '../helpers/certificates';
import { scratchDir } from '../helpers/scratch';

const UNITS = ['', 'ns', 'us', 'µs', 'ms', 's', 'm', 'h'];

/** Numbers at the edges: zero, fractions below a nanosecond, around 2^31-1 ms, far beyond. */
const extremeNumber = fc.oneof(
  fc.constantFrom('0', '0.0001', '0.5', '1', '596', '597', '2147483', '2147483.647', '2147483.648'),
  fc.constantFrom('2147483647', '2147483648', '9'.repeat(40), '1e400', '.5', '1.', '-1', '+1'),
  fc.double({ min: 0, max: 1e15, noNaN: true, noDefaultInfinity: true }).map(String),
  fc.bigInt({ min: 0n, max: 10n ** 30n }).map(String),
);
const extremeDuration = fc.oneof(
  fc.tuple(extremeNumber, fc.constantFrom(...UNITS)).map(([number, unit]) => `${number}${unit}`),
  fc.constantFrom('596h', '597h', '596h31m23s647ms', '596h31m23s648ms', '1.5ms', '1ns', '1h1ns'),
);
const extremeSize = fc.oneof(
  fc
    .tuple(extremeNumber, fc.constantFrom('', 'K', 'M', 'G', 'k', 'KiB', 'T'))
    .map(([number, unit]) => `${number}${unit}`),
  fc.constantFrom('4095', '4096', '1G', '1025M', '1048577K', '1073741824', '1073741825'),
);

/** The default command's options parsed as the CLI parses them. */
function parseExporter(args: string[]): Record<string, unknown> {
  return (
    exporterCommandOptions(yargs(args))
      // As the CLI parses: --collector.* and --web.config.file are single options.
      .parserConfiguration({ 'dot-notation': false })
      .strict()
      .fail((message, error) => {
        throw error ?? new Error(message);
      })
      .parseSync() as Record<string, unknown>
  );
}

/** yargs reports coerce()'s UsageError as a YError; the CLI prints it as one line, exit 2. */
function isOneLineRefusal(error: unknown, flag: string): boolean {
  return (
    error instanceof Error &&
    (error.name === 'YError' || error instanceof UsageError) &&
    !error.message.includes('\n') &&
    error.message.startsWith(flag)
  );
}

const EXPORTER_DURATIONS: Record<string, { key: string; zeroAllowed: boolean }> = {
  '--dns-ttl': { key: 'dnsTtl', zeroAllowed: false },
  '--dns-negative-ttl': { key: 'dnsNegativeTtl', zeroAllowed: false },
  '--dns-timeout': { key: 'dnsTimeout', zeroAllowed: false },
  '--dns-budget': { key: 'dnsBudget', zeroAllowed: true },
  '--resync-interval': { key: 'resyncInterval', zeroAllowed: true },
  '--silent-check-interval': { key: 'silentCheckInterval', zeroAllowed: false },
};

test('every duration option of the exporter: whole milliseconds a timer holds, or one line', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...Object.keys(EXPORTER_DURATIONS)),
      extremeDuration,
      (flag, value) => {
        let parsed: Record<string, unknown>;
        try {
          parsed = parseExporter([flag, value]);
        } catch (error) {
          assert.ok(isOneLineRefusal(error, flag), `${flag} ${value}: ${String(error)}`);
          return;
        }
        const ms = parsed[EXPORTER_DURATIONS[flag]!.key];
        assert.ok(Number.isSafeInteger(ms), `${flag} ${value} -> ${String(ms)}`);
        const min = EXPORTER_DURATIONS[flag]!.zeroAllowed ? 0 : 1;
        assert.ok((ms as number) >= min && (ms as number) <= MAX_TIMER_MS, `${flag} ${value}`);
      },
    ),
    { numRuns: 2000 },
  );
});

test('every duration option of the proxy: whole milliseconds a timer holds, or one line', () => {
  const good = { listen: ':3000', target: '127.0.0.1:3001', metrics: ':3002' };
  fc.assert(
    fc.property(
      fc.constantFrom('dialTimeout', 'drainTimeout'),
      fc.constantFrom('--', '-'),
      extremeDuration,
      (key, dash, value) => {
        let config;
        try {
          config = buildProxyConfig({ ...good, [key]: value }, 'conventional', dash);
        } catch (error) {
          const flag = `${dash}${key === 'dialTimeout' ? 'dial-timeout' : 'drain-timeout'}`;
          assert.ok(isOneLineRefusal(error, flag), `${flag} ${value}: ${String(error)}`);
          return;
        }
        const ms = key === 'dialTimeout' ? config.dialTimeoutMs : config.drainTimeoutMs;
        assert.ok(Number.isSafeInteger(ms) && ms >= 0 && ms <= MAX_TIMER_MS, `${value} -> ${ms}`);
      },
    ),
    { numRuns: 2000 },
  );
});

test('the size option (--netlink-buffer-size): whole bytes from 4K to 1G, or one line', () => {
  fc.assert(
    fc.property(extremeSize, (value) => {
      let parsed: Record<string, unknown>;
      try {
        parsed = parseExporter(['--netlink-buffer-size', value]);
      } catch (error) {
        assert.ok(isOneLineRefusal(error, '--netlink-buffer-size'), `${value}: ${String(error)}`);
        return;
      }
      const bytes = parsed.netlinkBufferSize as number;
      assert.ok(Number.isSafeInteger(bytes) && bytes >= 4096 && bytes <= 1024 ** 3, value);
    }),
    { numRuns: 1000 },
  );
});

test('every file option refuses a directory, a FIFO, a device and a huge file at once', async (t) => {
  const dir = scratchDir('cte-files-');
  const fifo = path.join(dir, 'fifo');
  const huge = path.join(dir, 'huge');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  // Sparse: 64 GiB that take no disk space, and would take all memory if read whole.
  assert.equal(spawnSync('truncate', ['-s', '64G', huge]).status, 0);
  const certificates = await makeCertificates();
  t.after(() => certificates.remove());
  const webConfig = (lines: string[]): string => {
    const file = path.join(scratchDir('cte-web-'), 'web.yml');
    writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  };
  const tls = (key: 'cert_file' | 'key_file' | 'client_ca_file', bad: string): string[] => [
    'tls_server_config:',
    `  cert_file: ${key === 'cert_file' ? bad : certificates.server.certFile}`,
    `  key_file: ${key === 'key_file' ? bad : certificates.server.keyFile}`,
    ...(key === 'client_ca_file'
      ? ['  client_auth_type: RequireAndVerifyClientCert', `  client_ca_file: ${bad}`]
      : []),
  ];

  const options: Record<string, { read: (file: string) => unknown; error: typeof UsageError }> = {
    '--config': { read: (file) => readConfigFile(file, '--config'), error: UsageError },
    '-conf': { read: (file) => resolveSettings(['-conf', file], {}), error: UsageError },
    '--web.config.file': { read: (file) => loadWebConfig(file), error: UsageError },
    cert_file: {
      read: (file) => loadWebConfig(webConfig(tls('cert_file', file))),
      error: UsageError,
    },
    key_file: {
      read: (file) => loadWebConfig(webConfig(tls('key_file', file))),
      error: UsageError,
    },
    client_ca_file: {
      read: (file) => loadWebConfig(webConfig(tls('client_ca_file', file))),
      error: UsageError,
    },
    '--netns': { read: (file) => checkNamespaceFile(file, '--netns'), error: EnvironmentError },
  };
  const files: Record<string, { path: string; reason: RegExp }> = {
    directory: { path: dir, reason: /a directory, not a (regular file|network namespace)/ },
    FIFO: { path: fifo, reason: /a FIFO, not a (regular file|network namespace)/ },
    device: {
      path: '/dev/zero',
      reason: /a character device, not a (regular file|network namespace)/,
    },
    'huge file': { path: huge, reason: /larger than \d+ bytes|not a network namespace/ },
  };
  for (const [option, { read, error: errorClass }] of Object.entries(options)) {
    for (const [kind, { path: file, reason }] of Object.entries(files)) {
      assert.throws(
        () => read(file),
        (error: unknown) =>
          error instanceof errorClass &&
          !error.message.includes('\n') &&
          reason.test(error.message),
        `${option} naming a ${kind}`,
      );
    }
  }
});
