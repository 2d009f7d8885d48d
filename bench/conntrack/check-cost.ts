/**
 * CPU per entry of the ways to learn what the kernel holds now: a read of
 * the whole table (dump), a lookup of given entries (each answered with the
 * whole entry), and a check of given connections (each answered with its
 * state or its end: how the exporter checks entries that send no events, a
 * slice at a time). Run by the
 * conntrack benchmark inside its namespace, on the table it filled; counts
 * the kernel's work too (system time of every thread of this process).
 * Prints one JSON line.
 *
 *   node --import tsx bench/conntrack/check-cost.ts SLICE
 */
import { checkConnections, lookupKeys, readTable } from '../../src/conntrack';
import { entryKey } from '../../src/model/live-table';

const slice = Number(process.argv[2] ?? 1000);
const ROUNDS = 3;

const cpuMicros = (): number => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

const median = (values: number[]): number => values.sort((a, b) => a - b)[values.length >> 1]!;

/** A read of the table as the live table takes it: every record decoded, its key made. */
async function dumpOnce(): Promise<{ entries: number; micros: number }> {
  const start = cpuMicros();
  const read = await readTable();
  let entries = 0;
  for (const entry of read) {
    entryKey(entry);
    entries++;
  }
  read.release?.();
  return { entries, micros: cpuMicros() - start };
}

/**
 * Every entry looked up by its key, `slice` per call, as the background
 * check asks for them, each answer's key made as the live table matches it.
 */
async function lookupOnce(wanted: string[]): Promise<{ found: number; micros: number }> {
  const start = cpuMicros();
  let found = 0;
  for (let i = 0; i < wanted.length; i += slice) {
    for (const entry of await lookupKeys(wanted.slice(i, i + slice))) {
      entryKey(entry);
      found++;
    }
  }
  return { found, micros: cpuMicros() - start };
}

/** Every connection checked, `slice` per call, as the exporter's background check does. */
async function checkOnce(
  keys: string[],
  ids: number[],
): Promise<{ alive: number; micros: number }> {
  const start = cpuMicros();
  let alive = 0;
  for (let i = 0; i < keys.length; i += slice) {
    for (const checked of await checkConnections(
      keys.slice(i, i + slice),
      ids.slice(i, i + slice),
    )) {
      if (!checked.gone) alive++;
    }
  }
  return { alive, micros: cpuMicros() - start };
}

async function main(): Promise<void> {
  const wanted: string[] = [];
  const ids: number[] = [];
  for (const entry of await readTable()) {
    wanted.push(entryKey(entry));
    ids.push(entry.id);
  }
  const dumps: number[] = [];
  const lookups: number[] = [];
  const checks: number[] = [];
  let found = 0;
  let alive = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const dumped = await dumpOnce();
    dumps.push(dumped.micros / dumped.entries);
    const looked = await lookupOnce(wanted);
    lookups.push(looked.micros / wanted.length);
    found = looked.found;
    const checked = await checkOnce(wanted, ids);
    checks.push(checked.micros / wanted.length);
    alive = checked.alive;
  }
  process.stdout.write(
    `${JSON.stringify({
      entries: wanted.length,
      found,
      alive,
      slice,
      dumpMicrosPerEntry: median(dumps),
      lookupMicrosPerEntry: median(lookups),
      checkMicrosPerEntry: median(checks),
    })}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`check-cost: ${String(error)}\n`);
  process.exit(1);
});
