#!/usr/bin/env node
// The package's npm "install" script: builds the native addon against the
// system's libnetfilter_conntrack, as `npm install -g conntrack-exporter`
// and `npm ci` in a checkout both need. node-gyp's own failure output names
// a missing header or tool, not the package that provides it, so on failure
// this adds the one command that fixes a Debian or Ubuntu host.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const PACKAGES = 'libnetfilter-conntrack-dev build-essential pkg-config python3';

/** The package's own node-gyp (a dependency), else the one npm gives install scripts. */
function nodeGyp() {
  try {
    const bundled = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
    return [process.execPath, bundled];
  } catch {
    const fromNpm = process.env.npm_config_node_gyp;
    return fromNpm && existsSync(fromNpm) ? [process.execPath, fromNpm] : ['node-gyp'];
  }
}

/** What is missing, when it can be told without building. */
function diagnose() {
  const pkgConfig = spawnSync('pkg-config', ['--exists', 'libnetfilter_conntrack']);
  if (pkgConfig.error) return 'pkg-config is not installed';
  if (pkgConfig.status !== 0) return 'pkg-config does not find libnetfilter_conntrack';
  return undefined;
}

const [command, ...args] = nodeGyp();
const build = spawnSync(command, [...args, 'rebuild'], { stdio: 'inherit' });
if (build.status !== 0) {
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
