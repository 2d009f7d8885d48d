import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import test from 'node:test';

import { UsageError } from '../../src/errors';
import { checkDuration, formatDuration } from '../../src/options/duration';
import { checkGroupBy, HostArgs, hostLabelConfig } from '../../src/options/host-labels';
import { HostFilter } from '../../src/model/host-filter';
import { checkCount } from '../../src/options/checks';

const CLI = path.join(__dirname, '..', '..', 'dist', 'cli.js');

test('durations are seconds, or a number and a unit; in milliseconds', () => {
  assert.equal(checkDuration('250ms', '--dns-budget', 0), 250);
  assert.equal(checkDuration('0', '--dns-budget', 0), 0);
  assert.equal(checkDuration('2', '--dns-timeout', 1), 2000);
  assert.equal(checkDuration('1.5s', '--dns-timeout', 1), 1500);
  assert.equal(checkDuration('5m', '--dns-ttl', 1), 300_000);
  assert.equal(checkDuration('1h', '--dns-ttl', 1), 3_600_000);
  for (const bad of ['', 'ms', '-1s', '1d', '0s', '0', '1e3ms', '999h', '5 m']) {
    assert.throws(
      () => checkDuration(bad, '--dns-ttl', 1),
      (error: unknown) =>
        error instanceof UsageError &&
        error.message.startsWith(`--dns-ttl: '${bad}' is not a duration above zero;`) &&
        error.message.includes('250ms'),
      bad,
    );
  }
  // A budget meant in milliseconds but written bare would be minutes long.
  assert.throws(
    () => checkDuration('250', '--dns-budget', 0, 10_000),
    /^UsageError: --dns-budget: '250' is not a duration of at most 10s; write seconds or a number and a unit/,
  );
  assert.equal(checkDuration('10s', '--dns-budget', 0, 10_000), 10_000);
  assert.equal(formatDuration(300_000), '5m');
  assert.equal(formatDuration(1500), '1500ms');
  assert.equal(formatDuration(0), '0ms');
});

test('counts are whole numbers from a minimum', () => {
  assert.equal(checkCount(500, '--max-hosts', 0), 500);
  assert.equal(checkCount('0', '--max-hosts', 0), 0);
  for (const bad of [-1, 1.5, 'abc', '', NaN]) {
    assert.throws(
      () => checkCount(bad, '--max-hosts', 0),
      /^UsageError: --max-hosts: '.*' is not a whole number of at least 0$/,
      String(bad),
    );
  }
  assert.throws(() => checkCount(0, '--dns-max-inflight', 1), /at least 1/);
});

test('--group-hosts-by takes an IPv4 and an IPv6 prefix length', () => {
  assert.deepEqual(checkGroupBy('24,64', '--group-hosts-by'), { ipv4: 24, ipv6: 64 });
  assert.deepEqual(checkGroupBy('/16, /48', '--group-hosts-by'), { ipv4: 16, ipv6: 48 });
  for (const bad of ['24', '33,64', '24,129', '24/64', 'a,b', '24,64,1', '']) {
    assert.throws(
      () => checkGroupBy(bad, '--group-hosts-by'),
      (error: unknown) =>
        error instanceof UsageError &&
        error.message.startsWith(`--group-hosts-by: '${bad}' is not an IPv4 and an IPv6`),
      bad,
    );
  }
});

const ARGS: HostArgs = {
  resolveHosts: true,
  dnsTtl: 300_000,
  dnsNegativeTtl: 60_000,
  dnsTimeout: 2_000,
  dnsBudget: 250,
  dnsMaxInflight: 16,
  maxHosts: 500,
  maxPortsPerHost: 10,
};

test('host names to ignore need name resolution', () => {
  const names = HostFilter.parse(['192.0.2.7,db-1.internal']);
  assert.equal(hostLabelConfig(ARGS, names).dns?.budgetMs, 250);
  assert.equal(
    hostLabelConfig({ ...ARGS, resolveHosts: false }, HostFilter.parse([])).dns,
    undefined,
  );
  assert.throws(
    () => hostLabelConfig({ ...ARGS, resolveHosts: false }, names),
    /^UsageError: --ignore-hosts: 'db-1.internal' is a host name.*--no-resolve-hosts/,
  );
});

test('the built CLI refuses bad host options with one line and exit code 2', () => {
  const cases: [string[], RegExp][] = [
    [['--dns-budget=250'], /--dns-budget: '250' is not a duration of at most 10s; write seconds/],
    [['--dns-ttl', '0s'], /--dns-ttl: '0s' is not a duration above zero/],
    [['--max-hosts=many'], /--max-hosts: 'many' is not a whole number of at least 0/],
    [['--dns-max-inflight=0'], /--dns-max-inflight: '0' is not a whole number of at least 1/],
    [['--group-hosts-by=24'], /--group-hosts-by: '24' is not an IPv4 and an IPv6 prefix length/],
    [['--no-resolve-hosts', '--ignore-hosts=*.internal'], /'\*\.internal' is a host name/],
  ];
  for (const [args, message] of cases) {
    const result = spawnSync(process.execPath, [CLI, ...args], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /^conntrack-exporter: /);
    assert.match(result.stderr, message);
  }
});
