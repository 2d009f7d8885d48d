/**
 * The npm package as users install it: `npm pack`, then `npm install -g` of
 * the tarball into a fresh prefix, which must use the prebuilt addon for
 * this host without building, put every command on PATH, and serve real
 * connections. Where no prebuilt addon fits (LIBC=musl stands for such a
 * host here, as node-gyp-build reads it), the install builds the addon from
 * source, and a host without the build dependencies gets the one apt-get
 * line that fixes it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';

import { openOutbound, startExporter } from '../helpers/exporter';
import { createTopology } from '../helpers/netns';
import { startActor } from '../helpers/tcp-actor';

const ROOT = path.join(__dirname, '..', '..');
const PACKAGE = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  bin: Record<string, string>;
};
// Everything the tarball may hold: what runs, the prebuilt addons, what
// builds the addon where none fits, the docs.
const RUN_TIME_FILE =
  /^(package\.json|README\.md|LICEN[CS]E(\.\w+)?|binding\.gyp|scripts\/(install|addon-api-dir)\.mjs|native\/([\w-]+\/)*[\w.-]+\.(cc|h)|vendor\/node-addon-api\/([\w.-]+\.h|LICENSE\.md)|prebuilds\/linux-(x64|arm64)\/node\.napi\.glibc\.node|dist\/[\w/.-]+\.(js|d\.ts)|docs\/[\w-]+\.md)$/;
const PREBUILT = `prebuilds/linux-${process.arch}/node.napi.glibc.node`;
// Only build tools: an installed package needs neither.
const BUILD_ONLY = ['node-gyp', 'node-addon-api'];
const NPM_ENV = {
  ...process.env,
  npm_config_fund: 'false',
  npm_config_audit: 'false',
  npm_config_update_notifier: 'false',
};

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(
  file: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = NPM_ENV,
  cwd = ROOT,
): Promise<Result> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { cwd, env, encoding: 'utf8', timeout: 10 * 60_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error === null) resolve({ code: 0, stdout, stderr });
        else if (typeof error.code === 'number') resolve({ code: error.code, stdout, stderr });
        else reject(error);
      },
    );
  });
}

test(
  'npm pack, then npm install -g of the tarball into a fresh prefix',
  { timeout: 15 * 60_000 },
  async (t) => {
    const work = mkdtempSync(path.join(os.tmpdir(), 'cte-npm-'));
    t.after(() => rmSync(work, { recursive: true, force: true }));

    const pack = await exec('npm', ['pack', '--json', '--pack-destination', work]);
    assert.equal(pack.code, 0, pack.stderr);
    const [packed] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
    assert.ok(packed);
    const tarball = path.join(work, packed.filename);
    const files = packed.files.map((file) => file.path);

    await t.test('the tarball holds run-time files only, and every command', () => {
      assert.deepEqual(
        files.filter((file) => !RUN_TIME_FILE.test(file)),
        [],
        'files not needed at run time',
      );
      for (const needed of [
        'binding.gyp',
        'scripts/install.mjs',
        'vendor/node-addon-api/napi.h',
        'prebuilds/linux-x64/node.napi.glibc.node',
        'prebuilds/linux-arm64/node.napi.glibc.node',
        'README.md',
        // The README links to these.
        'docs/deployment.md',
      ]) {
        assert.ok(files.includes(needed), `${needed} missing`);
      }
      assert.ok(
        files.some((file) => /^native\/.+\.cc$/.test(file)),
        'the sources for hosts no prebuilt addon fits',
      );
      assert.ok(
        !files.some((file) => file.startsWith('build/')),
        'a local build would not match every host',
      );
      for (const [name, target] of Object.entries(PACKAGE.bin)) {
        assert.ok(files.includes(path.normalize(target)), `bin ${name}: ${target} is not packed`);
      }
    });

    const prefix = path.join(work, 'prefix');
    const install = await exec('npm', [
      ...['install', '-g', '--foreground-scripts', '--prefix', prefix, tarball],
    ]);
    assert.equal(install.code, 0, `${install.stdout}${install.stderr}`);
    const installed = path.join(prefix, 'lib', 'node_modules', PACKAGE.name);
    const bin = path.join(prefix, 'bin');
    // node itself stays on PATH: the commands start with #!/usr/bin/env node.
    const pathEnv = {
      ...NPM_ENV,
      PATH: `${bin}:${path.dirname(process.execPath)}:${process.env.PATH}`,
    };

    await t.test('the install used the prebuilt addon and put every command on PATH', async () => {
      assert.match(install.stdout, new RegExp(`using the prebuilt addon ${PREBUILT}`));
      assert.ok(!existsSync(path.join(installed, 'build')), 'nothing was built');
      for (const name of BUILD_ONLY) {
        assert.ok(!existsSync(path.join(installed, 'node_modules', name)), `${name} installed`);
      }
      for (const name of Object.keys(PACKAGE.bin)) {
        accessSync(path.join(bin, name), constants.X_OK);
      }
      for (const name of ['conntrack-exporter', 'conntrack_exporter']) {
        const version = await exec(name, ['--version'], pathEnv, work);
        assert.equal(version.code, 0, version.stderr);
        assert.equal(version.stdout.trim(), PACKAGE.version);
      }
      // The drop-ins for Go tools answer -h with Go's usage text.
      const dropIns = Object.keys(PACKAGE.bin).filter(
        (name) => !/^conntrack[-_]exporter$/.test(name),
      );
      for (const name of dropIns) {
        const usage = await exec(name, ['-h'], pathEnv, work);
        assert.match(usage.stdout + usage.stderr, new RegExp(`^Usage of ${name}`), name);
      }
    });

    await t.test('the installed exporter serves real connections', async () => {
      const { host, remote } = await createTopology(t);
      await startActor(remote, { mode: 'listen', address: remote.ipv4, port: 5432 });
      await startActor(host, { mode: 'connect', host: remote.ipv4, port: 5432, count: 2 });
      const exporter = await startExporter(host, ['--no-resolve-hosts'], {
        program: path.join(bin, 'conntrack-exporter'),
      });
      assert.equal(openOutbound(await exporter.metrics(), remote.ipv4, 5432), 2);
      assert.equal(await exporter.stop(), 0);
    });

    await t.test('where no prebuilt addon fits, the install builds it from source', async () => {
      const sourcePrefix = path.join(work, 'source');
      const built = await exec('npm', ['install', '-g', '--prefix', sourcePrefix, tarball], {
        ...NPM_ENV,
        LIBC: 'musl',
      });
      assert.equal(built.code, 0, `${built.stdout}${built.stderr}`);
      const sourceInstalled = path.join(sourcePrefix, 'lib', 'node_modules', PACKAGE.name);
      assert.ok(existsSync(path.join(sourceInstalled, 'build', 'Release', 'conntrack.node')));
      // The build found node-addon-api's headers in the package, not in node_modules.
      for (const name of BUILD_ONLY) {
        assert.ok(!existsSync(path.join(sourceInstalled, 'node_modules', name)), name);
      }
      const loaded = await exec(
        process.execPath,
        ['-p', "require('./dist/conntrack/addon').loadAddon().libraryVersion"],
        { ...NPM_ENV, LIBC: 'musl' },
        sourceInstalled,
      );
      assert.equal(loaded.code, 0, loaded.stderr);
      assert.match(loaded.stdout.trim(), /^1\.\d+\.\d+$/);
    });

    await t.test('without the library, the install fails and says what to apt-get', async () => {
      const failing = await exec(
        'npm',
        ['install', '-g', '--prefix', path.join(work, 'broken'), tarball],
        {
          ...NPM_ENV,
          LIBC: 'musl',
          // pkg-config then finds no libnetfilter_conntrack, as on a host without the -dev package.
          PKG_CONFIG_LIBDIR: path.join(work, 'no-pkgconfig'),
          PKG_CONFIG_PATH: '',
        },
      );
      assert.notEqual(failing.code, 0);
      const output = failing.stdout + failing.stderr;
      assert.match(output, /apt-get install libnetfilter-conntrack-dev build-essential/);
      assert.match(output, /pkg-config does not find libnetfilter_conntrack/);
    });
  },
);
