import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';

import { ProcFile } from '../../src/proc-file';

const openFds = (): number => readdirSync('/proc/self/fd').length;

test('proc file: each read sees the file as it is now, through one descriptor', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'proc-file-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'value');
  writeFileSync(path, '1\n');
  const file = new ProcFile(path);
  assert.equal(file.read(), '1\n');
  const fds = openFds();
  // As sysctl -w writes: in place, shorter or longer than before.
  for (const text of ['262144\n', '7\n', 'é'.repeat(5000)]) {
    writeFileSync(path, text);
    assert.equal(file.read(), text);
  }
  assert.equal(openFds(), fds, 'no descriptor opened per read');
});

test('proc file: a file that goes away is an error (ENOENT), and is read again once back', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'proc-file-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'value');
  const file = new ProcFile(path);
  assert.throws(() => file.read(), { code: 'ENOENT' });
  writeFileSync(path, '2\n');
  assert.equal(file.read(), '2\n');
  // A regular file stays readable through its descriptor after unlinking;
  // /proc's files do not (the kernel refuses reads once a module is gone),
  // which is when ProcFile opens the path again.
  rmSync(path);
  writeFileSync(path, '3\n');
  assert.equal(file.read(), '2\n', 'the descriptor still reads the file it opened');
});

test('proc file: a sysctl read twice through one descriptor gives the kernel value each time', () => {
  const file = new ProcFile('/proc/sys/net/core/somaxconn');
  const first = file.read();
  assert.match(first, /^\d+\n$/);
  assert.equal(file.read(), first);
});
