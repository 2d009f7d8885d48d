#!/usr/bin/env node
// Prints the node-addon-api header directory for binding.gyp. In a checkout
// it is the devDependency; an installed package has no node-addon-api (it is
// only needed to build), so a source build there uses the copy of its
// headers that `npm pack` put in vendor/node-addon-api (scripts/vendor-addon-api.mjs).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const VENDORED = 'vendor/node-addon-api';

let dir;
try {
  dir = createRequire(import.meta.url)('node-addon-api').include_dir;
} catch {
  dir = VENDORED;
}
if (!existsSync(dir)) {
  console.error(`conntrack-exporter: no node-addon-api headers in ${dir}; run npm install`);
  process.exit(1);
}
console.log(dir);
