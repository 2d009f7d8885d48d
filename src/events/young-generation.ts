import { setFlagsFromString } from 'node:v8';

// V8's default (node --v8-options), which a read of the table sets back.
const DEFAULT_GROWTH_FACTOR = 2;
const FLAG = '--semi-space-growth-factor';

// Someone who starts node with this flag has chosen; it is then left alone.
const chosen = process.execArgv.some((arg) => arg.startsWith(FLAG));

/**
 * Runs `work` (a read of the whole table into the live table) without
 * letting V8's young generation grow for it, and returns its result.
 *
 * V8 grows the young generation (up to 2 x 16 MiB) when many objects
 * survive a collection of it, and does not shrink it again while the
 * process is idle. A read of the table is exactly that: 100k connections
 * that all live on. They are better promoted to the old generation at once:
 * measured with make bench's table, the exporter then holds less memory,
 * with the same scrape latency and burst CPU (RSS rows in BENCHMARKS.md).
 * Between reads V8's growth works as usual, so a burst of events still gets room.
 *
 * The flag is read by V8 each time it resizes the young generation, which
 * is why setting it at run time takes effect.
 */
export function withoutYoungGenerationGrowth<T>(work: () => T): T {
  if (chosen) return work();
  setFlagsFromString(`${FLAG}=1`);
  try {
    return work();
  } finally {
    setFlagsFromString(`${FLAG}=${DEFAULT_GROWTH_FACTOR}`);
  }
}
