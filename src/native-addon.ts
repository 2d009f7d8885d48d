import path from 'node:path';

/**
 * The addon binary (build/Release/conntrack.node) holds two parts, each with
 * its own typed wrapper and the only caller of its part:
 * `conntrack` (native/conntrack/, src/conntrack/addon.ts) and
 * `relay` (native/relay/, src/proxy/relay-addon.ts).
 */
export interface NativeParts {
  conntrack: unknown;
  relay: unknown;
}

const ADDON_PATH = path.join(__dirname, '..', 'build', 'Release', 'conntrack.node');

let loaded: NativeParts | undefined;

/**
 * Loads the binary once. A raw dlopen error tells a user little, so the
 * failure names what to install or rebuild.
 */
export function loadNativeParts(): NativeParts {
  if (loaded) return loaded;
  try {
    // A compiled addon can only be loaded through require().
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(ADDON_PATH) as NativeParts;
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0];
    throw new Error(
      `cannot load the conntrack addon (${reason}); install libnetfilter-conntrack ` +
        `(apt-get install libnetfilter-conntrack-dev build-essential) and rebuild with 'npm rebuild conntrack-exporter'`,
    );
  }
  return loaded;
}
