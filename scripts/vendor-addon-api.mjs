#!/usr/bin/env node
// The package's "prepack" script. node-addon-api is a header-only build
// dependency, so it is a devDependency; the package carries a copy of its
// headers for the source build on hosts that no prebuilt addon fits
// (scripts/addon-api-dir.mjs). It also refuses to pack without both
// prebuilt addons, so a published package never makes every host compile.
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const source = path.dirname(require.resolve('node-addon-api/package.json'));
const target = path.join(root, 'vendor', 'node-addon-api');

rmSync(target, { recursive: true, force: true });
mkdirSync(target, { recursive: true });
for (const file of readdirSync(source)) {
  if (file.endsWith('.h') || file === 'LICENSE.md') {
    copyFileSync(path.join(source, file), path.join(target, file));
  }
}

const missing = ['linux-x64', 'linux-arm64'].filter(
  (tuple) => !existsSync(path.join(root, 'prebuilds', tuple, 'node.napi.glibc.node')),
);
if (missing.length > 0) {
  console.error(
    `conntrack-exporter: no prebuilt addon for ${missing.join(', ')} in prebuilds/; run 'make prebuilds' first`,
  );
  process.exit(1);
}
