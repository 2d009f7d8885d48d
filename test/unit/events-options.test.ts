import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import test from 'node:test';

import { UsageError } from '../../src/errors';
import { checkInterval } from '../../src/options/duration';
import { checkBufferSize, eventsConfig } from '../../src/options/table-reading';

const CLI = path.join(__dirname, '..', '..', 'dist', 'cli.js');

test('the resync interval is seconds or a duration with a unit; 0 turns it off', () => {
  assert.equal(checkInterval('300', '--resync-interval'), 300_000);
  assert.equal(checkInterval('1.5', '--resync-interval'), 1_500);
  assert.equal(checkInterval('5m', '--resync-interval'), 300_000);
  assert.equal(checkInterval('1h', '--resync-interval'), 3_600_000);
  assert.equal(checkInterval('0', '--resync-interval'), 0);
  for (const bad of ['', 'soon', '-5', '0.5', '500ms', '5 minutes', '1e9']) {
    assert.throws(
      () => checkInterval(bad, '--resync-interval'),
      (error: unknown) =>
        error instanceof UsageError &&
        error.message.startsWith(`--resync-interval: '${bad}' is not an interval of at least 1s`),
      bad,
    );
  }
});

test('the netlink buffer size is bytes, or a number with K, M or G, from 4K to 1G', () => {
  const flag = '--netlink-buffer-size';
  assert.equal(checkBufferSize('8388608', flag), 8 * 1024 * 1024);
  assert.equal(checkBufferSize('512K', flag), 512 * 1024);
  assert.equal(checkBufferSize('16m', flag), 16 * 1024 * 1024);
  assert.equal(checkBufferSize('1GiB', flag), 1024 ** 3);
  assert.equal(checkBufferSize('4096', flag), 4096);
  for (const bad of ['4095', '2G', 'big', '-1', '1.5M', '']) {
    assert.throws(() => checkBufferSize(bad, flag), /is not a buffer size from 4K to 1G/, bad);
  }
});

test('--log-events needs events mode', () => {
  const args = {
    mode: 'dump',
    resyncInterval: 0,
    silentCheckInterval: 30_000,
    netlinkBufferSize: 4096,
    logEvents: true,
    logEventsFormat: 'json',
  } as const;
  assert.throws(() => eventsConfig(args), /--log-events needs --mode events/);
  assert.deepEqual(eventsConfig({ ...args, mode: 'events' }), {
    mode: 'events',
    resyncIntervalMs: 0,
    silentCheckIntervalMs: 30_000,
    netlinkBufferBytes: 4096,
    logEvents: 'json',
    linkHealth: false,
  });
});

test('--collector.link-health needs events mode', () => {
  const args = {
    mode: 'dump',
    resyncInterval: 0,
    silentCheckInterval: 60_000,
    netlinkBufferSize: 4096,
    logEvents: false,
    logEventsFormat: 'netfilter',
  } as const;
  const on = new Set(['link-health'] as const);
  assert.throws(() => eventsConfig(args, on), /--collector.link-health needs --mode events/);
  assert.equal(eventsConfig({ ...args, mode: 'events' }, on).linkHealth, true);
  assert.equal(eventsConfig({ ...args, mode: 'events' }).linkHealth, false);
});

test('the CLI refuses bad events options in one line with exit code 2', () => {
  for (const [args, message] of [
    [['--mode', 'stream'], /--mode.*stream/],
    [['--netlink-buffer-size', '1k'], /--netlink-buffer-size: '1k' is not a buffer size/],
    [['--resync-interval', 'often'], /--resync-interval: 'often' is not an interval/],
    [['--silent-check-interval', '0'], /--silent-check-interval: '0' is not a duration above zero/],
    [
      ['--silent-check-interval', '2h'],
      /--silent-check-interval: '2h' is not a duration .*at most 1h/,
    ],
    [['--log-events-format', 'xml'], /--log-events-format.*xml/],
    [['--mode', 'dump', '--log-events'], /--log-events needs --mode events/],
    [['--mode', 'dump', '--collector.link-health'], /--collector.link-health needs --mode events/],
  ] as const) {
    const result = spawnSync(process.execPath, [CLI, ...args], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    const lines = result.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0] ?? '', message);
  }
});
