import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import test from 'node:test';

import { EventLog } from '../../src/events/event-log';
import { Logger } from '../../src/log';

function recorder() {
  const warnings: string[] = [];
  const log: Logger = {
    info() {},
    warn: (message) => warnings.push(message),
    error() {},
    debug() {},
  };
  return { log, warnings };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

test('lines added in one turn of the loop go out in one write', async () => {
  const writes: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      writes.push(chunk.toString());
      done();
    },
  });
  const eventLog = new EventLog(out, recorder().log);
  eventLog.add('one');
  eventLog.add('two');
  await turn();
  eventLog.add('three');
  await turn();
  assert.deepEqual(writes, ['one\ntwo\n', 'three\n']);
});

test('a reader that falls behind costs dropped lines, counted, not memory', async () => {
  // A reader that never reads: everything written stays queued.
  const out = new Writable({ highWaterMark: 16, write() {} });
  const { log, warnings } = recorder();
  const eventLog = new EventLog(out, log, 100);
  for (let i = 0; i < 10; i++) {
    eventLog.add('x'.repeat(60));
    await turn();
  }
  assert.ok(out.writableLength <= 160, `queued ${out.writableLength}`);
  assert.equal(eventLog.dropped, 8);
  assert.equal(warnings.length, 1);
});

test('a closed stdout (EPIPE) stops the log with one warning, and nothing throws', async () => {
  const out = new Writable({
    write(_chunk, _encoding, done) {
      done(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    },
  });
  const { log, warnings } = recorder();
  const eventLog = new EventLog(out, log);
  eventLog.add('first');
  await turn();
  await turn();
  eventLog.add('second');
  eventLog.add('third');
  await turn();
  assert.deepEqual(warnings, ['the event log stopped: stdout failed (EPIPE)']);
  assert.equal(eventLog.dropped, 2);
});
