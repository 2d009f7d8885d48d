/**
 * The npm package on a bare Debian bookworm server (scripts/debian-host-root.sh:
 * Node and npm, libnetfilter-conntrack3 and systemd; no compiler, make,
 * python3, pkg-config or -dev package), in a throwaway copy of that root:
 *
 * - `npm install -g` of the packed tarball, chrooted into it, succeeds with
 *   the prebuilt addon (nothing could be built there), and the installed
 *   exporter, run in the root in a test namespace, counts real connections;
 *   without libnetfilter-conntrack3 it says in one line what to install.
 * - systemd-nspawn --boot of that root, in the test namespace: a real
 *   systemd as PID 1 starts deploy/systemd/conntrack-exporter.service; the
 *   exporter runs as the unit's dynamic user with only CAP_NET_ADMIN, serves
 *   the connections, re-reads its web config on `systemctl reload`, is
 *   restarted after a crash and stops cleanly.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { type TestContext } from 'node:test';

import { openOutbound, parseExposition, startExporter } from '../helpers/exporter';
import { createTopology, waitFor } from '../helpers/netns';
import { startActor } from '../helpers/tcp-actor';
import { missingComponent } from '../helpers/components';

const ROOT = path.join(__dirname, '..', '..');
const PACKAGE = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
};
const UNIT = path.join(ROOT, 'deploy', 'systemd', 'conntrack-exporter.service');
const CAP_NET_ADMIN = 1n << 12n;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function run(
  file: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        cwd: options.cwd ?? ROOT,
        env: options.env ?? process.env,
        encoding: 'utf8',
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error === null) resolve({ code: 0, stdout, stderr });
        else if (typeof error.code === 'number') resolve({ code: error.code, stdout, stderr });
        else reject(new Error(`${file} ${args.join(' ')}: ${error.message}\n${stderr}`));
      },
    );
  });
}

async function must(file: string, args: readonly string[], timeoutMs?: number): Promise<string> {
  const result = await run(file, args, { timeoutMs });
  if (result.code !== 0) {
    throw new Error(
      `${file} ${args.join(' ')}: exit ${result.code}\n${result.stdout}${result.stderr}`,
    );
  }
  return result.stdout;
}

function mounted(prefix: string): string[] {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((mountpoint) => mountpoint === prefix || mountpoint.startsWith(`${prefix}/`))
    .sort()
    .reverse();
}

/** A fresh copy of the cached host root; removed, with anything mounted in it, afterwards. */
async function hostRoot(t: TestContext): Promise<string> {
  const tarball = (
    await must(path.join(ROOT, 'scripts', 'debian-host-root.sh'), [], 20 * 60_000)
  ).trim();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cte-host-'));
  const root = path.join(dir, 'root');
  t.after(async () => {
    for (const mountpoint of mounted(root)) await run('umount', ['-l', mountpoint]);
    rmSync(dir, { recursive: true, force: true });
  });
  mkdirSync(root);
  await must('tar', ['-C', root, '--numeric-owner', '-xf', tarball], 10 * 60_000);
  return root;
}

test(
  'the npm package on a bare Debian host, then under systemd as PID 1',
  { timeout: 30 * 60_000 },
  async (t) => {
    if (process.getuid?.() !== 0) {
      missingComponent(t, 'the host test needs root (chroot, mounts, namespaces)');
      return;
    }
    const root = await hostRoot(t);
    const chroot = (args: readonly string[], env: Record<string, string> = {}) =>
      run(
        'chroot',
        [
          root,
          'env',
          '-i',
          'PATH=/usr/local/bin:/usr/bin:/bin',
          'HOME=/root',
          ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
          ...args,
        ],
        {
          timeoutMs: 10 * 60_000,
        },
      );

    await t.test('the root has Node but nothing to build with', async () => {
      const tools = await chroot([
        'sh',
        '-c',
        'for t in node npm cc gcc g++ make python3 pkg-config; do command -v $t || true; done',
      ]);
      assert.deepEqual(tools.stdout.trim().split('\n'), [
        '/usr/local/bin/node',
        '/usr/local/bin/npm',
      ]);
      const packages = await chroot(['dpkg-query', '-W', '-f', '${Package}\\n']);
      assert.deepEqual(
        packages.stdout.split('\n').filter((name) => name.endsWith('-dev')),
        [],
      );
      assert.ok(packages.stdout.split('\n').includes('libnetfilter-conntrack3'));
    });

    // npm reaches the registry as it does on this machine.
    const work = mkdtempSync(path.join(os.tmpdir(), 'cte-host-pack-'));
    t.after(() => rmSync(work, { recursive: true, force: true }));
    const packed = JSON.parse(
      await must('npm', ['pack', '--json', '--pack-destination', work]),
    ) as {
      filename: string;
    }[];
    copyFileSync(path.join(work, packed[0]!.filename), path.join(root, 'tmp', 'package.tgz'));
    copyFileSync('/etc/resolv.conf', path.join(root, 'etc', 'resolv.conf'));
    const registry = (await must('npm', ['config', 'get', 'registry'])).trim();
    await must('mount', ['-t', 'proc', 'proc', path.join(root, 'proc')]);
    await must('mount', ['--bind', '/dev', path.join(root, 'dev')]);
    const installed = path.join(root, 'usr', 'local', 'lib', 'node_modules', PACKAGE.name);

    await t.test('npm install -g of the tarball uses the prebuilt addon', async () => {
      const started = Date.now();
      const install = await chroot(
        ['npm', 'install', '-g', '--foreground-scripts', '/tmp/package.tgz'],
        {
          npm_config_registry: registry,
          npm_config_fund: 'false',
          npm_config_audit: 'false',
          npm_config_update_notifier: 'false',
          ...(process.env.NODE_EXTRA_CA_CERTS
            ? { NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt' }
            : {}),
        },
      );
      const seconds = (Date.now() - started) / 1000;
      assert.equal(install.code, 0, install.stdout + install.stderr);
      assert.match(
        install.stdout,
        /using the prebuilt addon prebuilds\/linux-x64\/node\.napi\.glibc\.node/,
      );
      assert.ok(!existsSync(path.join(installed, 'build')), 'nothing was built');
      const size = await must('du', ['-sb', installed]);
      t.diagnostic(
        `npm install -g on the bare host: ${seconds.toFixed(1)} s, ${(Number(size.split('\t')[0]) / 1e6).toFixed(1)} MB installed`,
      );
      const version = await chroot(['conntrack-exporter', '--version']);
      assert.equal(version.stdout.trim(), PACKAGE.version);
    });

    // Started with the chroot as launcher, the helper's `node` must be the root's.
    mkdirSync(path.join(root, path.dirname(process.execPath)), { recursive: true });
    if (!existsSync(path.join(root, process.execPath)))
      symlinkSync('/usr/local/bin/node', path.join(root, process.execPath));

    await t.test('the installed exporter counts real connections', async (t) => {
      const { host, remote } = await createTopology(t);
      await startActor(remote, { mode: 'listen', address: remote.ipv4, port: 5432 });
      await startActor(host, { mode: 'connect', host: remote.ipv4, port: 5432, count: 2 });
      const exporter = await startExporter(host, ['--no-resolve-hosts'], {
        launcher: ['chroot', root],
        program: '/usr/local/bin/conntrack-exporter',
      });
      assert.equal(openOutbound(await exporter.metrics(), remote.ipv4, 5432), 2);
      assert.equal(await exporter.stop(), 0);
    });

    await t.test('without libnetfilter-conntrack3 one line names the package', async () => {
      const libraries = path.join(root, 'usr', 'lib', 'x86_64-linux-gnu');
      const hidden = path.join(root, 'tmp', 'hidden');
      mkdirSync(hidden);
      const moved = readdirSync(libraries).filter((file) =>
        file.startsWith('libnetfilter_conntrack.so'),
      );
      assert.ok(moved.length > 0);
      for (const file of moved) renameSync(path.join(libraries, file), path.join(hidden, file));
      try {
        const start = await chroot(['conntrack-exporter', '--listen-port', '19318']);
        assert.notEqual(start.code, 0);
        // Events mode first says it falls back to reading the table (same cause),
        // then the read fails: the line it exits on names the package.
        const lines = start.stderr.trim().split('\n');
        assert.ok(lines.length <= 2, start.stderr);
        assert.match(
          lines.at(-1)!,
          /^conntrack-exporter: .*the library libnetfilter_conntrack is not installed; install it with 'apt-get install libnetfilter-conntrack3'$/,
        );
      } finally {
        for (const file of moved) renameSync(path.join(hidden, file), path.join(libraries, file));
      }
    });

    for (const mountpoint of mounted(root)) await must('umount', [mountpoint]);
    await t.test('systemd as PID 1 runs the unit', (t) => systemdBoot(t, root));
  },
);

/** Boots `root` with systemd-nspawn in a test namespace and checks the unit under it. */
async function systemdBoot(t: TestContext, root: string): Promise<void> {
  const webConfig = (policy: string) =>
    `http_server_config:\n  headers:\n    Content-Security-Policy: "${policy}"\n`;
  mkdirSync(path.join(root, 'etc', 'conntrack-exporter'), { recursive: true });
  writeFileSync(
    path.join(root, 'etc', 'conntrack-exporter', 'web.yml'),
    webConfig("default-src 'none'"),
    { mode: 0o644 },
  );
  writeFileSync(
    path.join(root, 'etc', 'default', 'conntrack-exporter'),
    'ARGS="--listen-port=9318 --no-resolve-hosts --web.config.file=/etc/conntrack-exporter/web.yml"\n',
  );
  copyFileSync(UNIT, path.join(root, 'etc', 'systemd', 'system', 'conntrack-exporter.service'));
  const wants = path.join(root, 'etc', 'systemd', 'system', 'multi-user.target.wants');
  mkdirSync(wants, { recursive: true });
  symlinkSync(
    '/etc/systemd/system/conntrack-exporter.service',
    path.join(wants, 'conntrack-exporter.service'),
  );
  // No login prompt on the console nspawn gives it.
  symlinkSync('/dev/null', path.join(root, 'etc', 'systemd', 'system', 'console-getty.service'));

  const { host, remote } = await createTopology(t);
  await startActor(remote, { mode: 'listen', address: remote.ipv4, port: 5432 });
  await startActor(host, { mode: 'connect', host: remote.ipv4, port: 5432, count: 3 });

  const machine = `cte-${process.pid}`;
  let console = '';
  // --register=no --keep-unit: no machined or systemd on this side to ask
  // for a scope unit (nspawn would fail to open the system bus).
  const nspawn: ChildProcess = spawn(
    'systemd-nspawn',
    [
      ...['--quiet', '--boot', '--register=no', '--keep-unit', `--machine=${machine}`],
      `--directory=${root}`,
      `--network-namespace-path=/run/netns/${host.name}`,
      // nspawn's default set lacks it; the unit is to narrow it to its service.
      '--capability=CAP_NET_ADMIN',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const append = (chunk: Buffer) => (console = (console + chunk.toString()).slice(-20_000));
  nspawn.stdout?.on('data', append);
  nspawn.stderr?.on('data', append);
  const exited = once(nspawn, 'exit');
  t.after(async () => {
    if (nspawn.exitCode === null && nspawn.signalCode === null) {
      nspawn.kill('SIGTERM');
      const timer = setTimeout(() => nspawn.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
  });

  // The container's PID 1, seen from here: nspawn's child running systemd.
  const leader = await waitFor(
    async () => {
      if (nspawn.exitCode !== null)
        throw new Error(`systemd-nspawn exited with ${nspawn.exitCode}: ${console}`);
      // nspawn starts short-lived helpers too: the leader is the child that
      // runs systemd, not whichever child came first.
      const children = await run('pgrep', ['-P', String(nspawn.pid), '-x', 'systemd']);
      return children.stdout.trim().split('\n').filter(Boolean)[0];
    },
    60_000,
    'the container started',
  );
  const inside = (args: readonly string[]) =>
    run('nsenter', ['--target', leader, '--mount', '--uts', '--ipc', '--net', '--pid', ...args]);
  const property = async (name: string) =>
    (
      await inside(['systemctl', 'show', '--property', name, '--value', 'conntrack-exporter'])
    ).stdout.trim();

  await waitFor(
    async () =>
      (await inside(['systemctl', 'is-active', 'conntrack-exporter'])).stdout.trim() === 'active',
    120_000,
    'conntrack-exporter.service active',
  ).catch(async (error: Error) => {
    const journal = await inside(['journalctl', '--no-pager', '-n', '50']);
    throw new Error(
      `${error.message}\n${journal.stdout}${journal.stderr}\n${console.slice(-3000)}`,
    );
  });

  // Type=simple: active once started, serving a moment later.
  await waitFor(
    async () => (await host.exec(['curl', '-sf', 'http://127.0.0.1:9318/metrics'])).code === 0,
    60_000,
    'the unit serving metrics',
  );

  await t.test('it runs as a dynamic user with CAP_NET_ADMIN only', async () => {
    const pid = await property('MainPID');
    const status = (await inside(['cat', `/proc/${pid}/status`])).stdout;
    const field = (name: string) => new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(status)?.[1] ?? '';
    const uid = Number(field('Uid').split(/\s+/)[0]);
    // systemd's range for dynamic users.
    assert.ok(uid >= 61184 && uid <= 65519, `uid ${uid}`);
    assert.equal(BigInt(`0x${field('CapEff')}`), CAP_NET_ADMIN);
    assert.equal(BigInt(`0x${field('CapBnd')}`), CAP_NET_ADMIN);
  });

  const scrape = async (extra: string[] = []) => {
    const result = await host.exec([
      'curl',
      '-sS',
      '--fail',
      '--max-time',
      '20',
      ...extra,
      'http://127.0.0.1:9318/metrics',
    ]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout;
  };

  await t.test('it serves the real connections', async () => {
    assert.equal(openOutbound(parseExposition(await scrape()), remote.ipv4, 5432), 3);
  });

  await t.test('systemctl reload re-reads the web config', async () => {
    const policy = async () =>
      /^content-security-policy: (.*)\r$/im.exec(await scrape(['-D', '-', '-o', '/dev/null']))?.[1];
    assert.equal(await policy(), "default-src 'none'");
    writeFileSync(
      path.join(root, 'etc', 'conntrack-exporter', 'web.yml'),
      webConfig("default-src 'self'"),
    );
    const reload = await inside(['systemctl', 'reload', 'conntrack-exporter']);
    assert.equal(reload.code, 0, reload.stderr);
    await waitFor(
      async () => (await policy()) === "default-src 'self'",
      30_000,
      'the new header served',
    );
  });

  await t.test('a crash restarts it', async () => {
    const before = await property('MainPID');
    await inside(['systemctl', 'kill', '--signal=SIGKILL', 'conntrack-exporter']);
    // RestartSec=5s
    await waitFor(
      async () => {
        const pid = await property('MainPID');
        return pid !== '0' && pid !== before && (await property('ActiveState')) === 'active';
      },
      60_000,
      'restarted',
    );
    assert.equal(await property('NRestarts'), '1');
    await waitFor(
      async () => (await host.exec(['curl', '-sf', 'http://127.0.0.1:9318/metrics'])).code === 0,
      30_000,
      'serving again',
    );
  });

  await t.test('systemctl stop ends it cleanly', async () => {
    const stop = await inside(['systemctl', 'stop', 'conntrack-exporter']);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(await property('ActiveState'), 'inactive');
    assert.equal(await property('Result'), 'success');
  });

  await inside(['systemctl', 'poweroff']);
  const timer = setTimeout(() => nspawn.kill('SIGKILL'), 60_000);
  await exited;
  clearTimeout(timer);
}
