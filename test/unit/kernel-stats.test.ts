/**
 * Decoding and summing the kernel's per-CPU conntrack statistics, on a
 * recorded answer (test/fixtures/record-kernel-stats.sh) checked against
 * `conntrack -S` of the same moment, and on answers made malformed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';

import {
  decodeKernelStats,
  KERNEL_STATS,
  KernelStatsFormatError,
} from '../../src/conntrack/kernel-stats';
import { parseConntrackStats } from '../helpers/conntrack-stats';

const fixtures = path.join(__dirname, '..', '..', 'test', 'fixtures');
const recorded = readFileSync(path.join(fixtures, 'kernel-stats.bin'));
const listing = parseConntrackStats(
  readFileSync(path.join(fixtures, 'kernel-stats.conntrack.txt'), 'utf8'),
);

// The recorded messages: 100 bytes each, 10 attributes of 8 bytes after the headers.
const MESSAGE = 100;
const FIRST_ATTRIBUTE = 20;

test('the recorded answer sums to what conntrack -S listed, statistic by statistic', () => {
  const stats = decodeKernelStats(recorded);
  assert.equal(stats.cpus, listing.cpus);
  assert.ok(listing.cpus >= 1);
  assert.deepEqual(stats.totals, listing.totals);
  // The recording filled the table: these are the ones it made non-zero.
  assert.ok((stats.totals.insert ?? 0) > 0);
  assert.ok((stats.totals.drop ?? 0) > 0);
});

test('every statistic conntrack -S names is one the decoder knows', () => {
  for (const name of Object.keys(listing.totals)) {
    assert.ok((KERNEL_STATS as readonly string[]).includes(name), name);
  }
});

test('an ArrayBuffer and a Uint8Array view of it decode alike', () => {
  const copy = new Uint8Array(recorded.length + 8);
  copy.set(recorded, 8);
  const view = copy.subarray(8);
  const buffer = view.slice().buffer;
  assert.deepEqual(decodeKernelStats(view), decodeKernelStats(buffer));
});

test('no messages: no CPUs, no statistics', () => {
  assert.deepEqual(decodeKernelStats(new Uint8Array(0)), { cpus: 0, totals: {} });
});

test('each message alone decodes to its CPU line of conntrack -S', () => {
  const lines = readFileSync(path.join(fixtures, 'kernel-stats.conntrack.txt'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('cpu='));
  assert.equal(recorded.length, lines.length * MESSAGE);
  lines.forEach((line, cpu) => {
    const message = recorded.subarray(cpu * MESSAGE, (cpu + 1) * MESSAGE);
    assert.deepEqual(decodeKernelStats(message), parseConntrackStats(line), line);
  });
});

test('sums past 32 bits: each CPU counts to 2^32 - 1', () => {
  const bytes = Buffer.from(recorded.subarray(0, 2 * MESSAGE));
  for (const start of [0, MESSAGE]) {
    // The first attribute's value (found), big-endian.
    bytes.writeUInt32BE(0xffffffff, start + FIRST_ATTRIBUTE + 4);
  }
  assert.equal(decodeKernelStats(bytes).totals.found, 2 * 0xffffffff);
});

test('an attribute of a type it does not know (a newer kernel) is skipped', () => {
  const bytes = Buffer.from(recorded.subarray(0, MESSAGE));
  // found's attribute becomes type 40.
  bytes.writeUInt16LE(40, FIRST_ATTRIBUTE + 2);
  const stats = decodeKernelStats(bytes);
  assert.equal(stats.totals.found, undefined);
  assert.equal(
    stats.totals.invalid,
    decodeKernelStats(recorded.subarray(0, MESSAGE)).totals.invalid,
  );
});

test('a message cut short, overlong or of another type is refused with where it is', () => {
  assert.throws(() => decodeKernelStats(recorded.subarray(0, 10)), {
    name: 'Error',
    message: /byte 0 is cut short/,
  });
  assert.throws(
    () => decodeKernelStats(recorded.subarray(0, MESSAGE - 4)),
    (error: unknown) =>
      error instanceof KernelStatsFormatError &&
      /length 100, outside the 96 bytes/.test(error.message),
  );
  const otherType = Buffer.from(recorded.subarray(0, MESSAGE));
  otherType.writeUInt16LE(0x0101, 4);
  assert.throws(() => decodeKernelStats(otherType), /type 0x101, not a conntrack CPU statistics/);
  const badAttribute = Buffer.from(recorded.subarray(0, MESSAGE));
  badAttribute.writeUInt16LE(200, FIRST_ATTRIBUTE);
  assert.throws(() => decodeKernelStats(badAttribute), /attribute at byte 20 has length 200/);
});
