/**
 * CPU per entry of the two ways the exporter learns what the kernel holds
 * now: a read of the whole table (dump), and a lookup of given entries (how
 * entries that send no events are checked, a slice at a time). Run by the
 * conntrack benchmark inside its namespace, on the table it filled; counts
 * the kernel's work too (system time of every thread of this process).
 * Prints one JSON line.
 *
 *   node --import tsx bench/conntrack/check-cost.ts SLICE
 */
import { lookupKeys, readTable } from '../../src/conntrack';
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

async function main(): Promise<void> {
  const wanted: string[] = [];
  for (const entry of await readTable()) wanted.push(entryKey(entry));
  const dumps: number[] = [];
  const lookups: number[] = [];
  let found = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const dumped = await dumpOnce();
    dumps.push(dumped.micros / dumped.entries);
    const looked = await lookupOnce(wanted);
    lookups.push(looked.micros / wanted.length);
    found = looked.found;
  }
  process.stdout.write(
    `${JSON.stringify({
      entries: wanted.length,
      found,
      slice,
      dumpMicrosPerEntry: median(dumps),
      lookupMicrosPerEntry: median(lookups),
    })}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`check-cost: ${String(error)}\n`);
  process.exit(1);
});
