import path from 'node:path';

// node-gyp-build ships no types; only its path() is used.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };

/**
 * The addon binary holds two parts, each with its own typed wrapper and the
 * only caller of its part: `conntrack` (native/conntrack/,
 * src/conntrack/addon.ts) and `relay` (native/relay/, src/proxy/relay-addon.ts).
 */
export interface NativeParts {
  conntrack: unknown;
  relay: unknown;
}

const PACKAGE_ROOT = path.join(__dirname, '..');

/** The Node-API version the addon is built for: binding.gyp's NAPI_VERSION. */
export const NAPI_VERSION = 8;

const BUILD_HINT =
  "build it with 'npm rebuild conntrack-exporter', which needs " +
  "'apt-get install libnetfilter-conntrack-dev build-essential pkg-config python3 libmnl-dev'";

/** Why this Node cannot load the addon, or undefined if it can. */
export function napiProblem(napi: string | undefined, node: string): string | undefined {
  if (napi !== undefined && Number(napi) >= NAPI_VERSION) return undefined;
  return (
    `the conntrack addon needs Node-API version ${NAPI_VERSION} or newer, ` +
    `Node.js ${node} has ${napi ?? 'none'}; use Node.js 20, 22, 24 or 26`
  );
}

/**
 * The one line for an addon that did not load: a missing shared library is
 * named by its Debian package (the addon needs no other), anything else
 * points at a rebuild.
 */
export function addonLoadError(file: string, message: string): string {
  const reason = message.split('\n')[0] ?? '';
  if (/lib(netfilter_conntrack|nfnetlink|mnl)\.so/.test(reason)) {
    return (
      'cannot load the conntrack addon: the library libnetfilter_conntrack is not installed; ' +
      "install it with 'apt-get install libnetfilter-conntrack3'"
    );
  }
  return `cannot load the conntrack addon ${file} (${reason}); ${BUILD_HINT}`;
}

let loaded: NativeParts | undefined;

/**
 * Loads the binary once: a local build (build/Release) if there is one, else
 * the prebuilt addon for this platform (prebuilds/, see scripts/prebuild.sh),
 * as node-gyp-build finds it. A raw dlopen error tells a user little, so a
 * failure names what to install or rebuild.
 */
export function loadNativeParts(): NativeParts {
  if (loaded) return loaded;
  const problem = napiProblem(process.versions.napi, process.version);
  if (problem !== undefined) throw new Error(problem);
  let file: string;
  try {
    file = nodeGypBuild.path(PACKAGE_ROOT);
  } catch {
    throw new Error(
      `no conntrack addon for ${process.platform}-${process.arch} in ${PACKAGE_ROOT}; ${BUILD_HINT}`,
    );
  }
  try {
    // A compiled addon can only be loaded through require().
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(file) as NativeParts;
  } catch (error) {
    throw new Error(addonLoadError(file, (error as Error).message));
  }
  return loaded;
}
