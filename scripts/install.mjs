#!/usr/bin/env node
// The package's npm "install" script. Where the package carries a prebuilt
// addon for this host (prebuilds/linux-x64 and linux-arm64, glibc) and it
// loads, nothing is built. Elsewhere (another architecture, musl), or with
// --build-from-source, it builds the addon against the system's
// libnetfilter_conntrack, as a checkout's `npm ci` does. node-gyp's own
// failure output names a missing header or tool, not the package that
// provides it, so on failure this adds the one command that fixes a Debian
// or Ubuntu host.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGES = 'libnetfilter-conntrack-dev build-essential pkg-config python3 libmnl-dev';
const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

/** The prebuilt addon node-gyp-build picks for this host, if any. */
function prebuilt() {
  // Only prebuilds/: a build/Release left by an earlier build is rebuilt.
  process.env.PREBUILDS_ONLY = '1';
  try {
    return require('node-gyp-build').path(ROOT);
  } catch {
    return undefined;
  } finally {
    delete process.env.PREBUILDS_ONLY;
  }
}

/** Loads the addon in a child process: its first error line, or undefined if it loads. */
function loadError(file) {
  const child = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)})`], {
    encoding: 'utf8',
  });
  if (child.status === 0) return undefined;
  return (child.stderr.split('\n').find((line) => /Error/.test(line)) ?? child.stderr).trim();
}

/** npm's own node-gyp, which it gives install scripts, else a checkout's devDependency. */
function nodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return [process.execPath, fromNpm];
  try {
    return [process.execPath, require.resolve('node-gyp/bin/node-gyp.js')];
  } catch {
    return ['node-gyp'];
  }
}

/** What is missing, when it can be told without building. */
function diagnose() {
  const pkgConfig = spawnSync('pkg-config', ['--exists', 'libnetfilter_conntrack']);
  if (pkgConfig.error) return 'pkg-config is not installed';
  if (pkgConfig.status !== 0) return 'pkg-config does not find libnetfilter_conntrack';
  return undefined;
}

function buildFromSource() {
  const [command, ...args] = nodeGyp();
  const build = spawnSync(command, [...args, 'rebuild'], { stdio: 'inherit', cwd: ROOT });
  if (build.status === 0) return;
  const cause = diagnose();
  console.error(
    [
      '',
      `conntrack-exporter: building the native addon failed${cause ? `: ${cause}` : ''}.`,
      'It needs the libnetfilter_conntrack headers, a C++ compiler, make, pkg-config and python3.',
      `On Debian or Ubuntu: apt-get install ${PACKAGES}`,
      'then install conntrack-exporter again.',
      '',
    ].join('\n'),
  );
  process.exit(build.status ?? 1);
}

const file = process.env.npm_config_build_from_source === 'true' ? undefined : prebuilt();
if (file === undefined) {
  buildFromSource();
} else {
  const error = loadError(file);
  if (error === undefined) {
    console.log(`conntrack-exporter: using the prebuilt addon ${path.relative(ROOT, file)}`);
  } else if (/lib(netfilter_conntrack|nfnetlink|mnl)\.so/.test(error)) {
    // Building would need more than the missing library; the exporter says the same at start.
    console.warn(
      'conntrack-exporter: the library libnetfilter_conntrack is not installed; ' +
        "install it with 'apt-get install libnetfilter-conntrack3'",
    );
  } else {
    console.warn(
      `conntrack-exporter: the prebuilt addon does not load here (${error}); building it`,
    );
    buildFromSource();
  }
}
