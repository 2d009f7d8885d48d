/**
 * What an operator sees when the host is not ready: one line naming the
 * problem and the fix, and a non-zero exit, never a stack trace.
 */
import assert from 'node:assert/strict';
import test from 'node:test';

import { CLI, startExporter } from '../helpers/exporter';
import { createNamespace } from '../helpers/netns';

function assertOneLine(stderr: string, message: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line, got: ${stderr}`);
  assert.match(lines[0]!, message);
}

// Events mode learns it from its first read of the table, dump mode from a
// read made only to check: each must say it at start, in one line.
for (const mode of ['events', 'dump']) {
  test(`without CAP_NET_ADMIN (--mode ${mode}): one line naming the capability, exit 1`, async (t) => {
    const ns = await createNamespace(t);
    const result = await ns.exec([
      ...[
        'setpriv',
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        '--inh-caps=-all',
        '--bounding-set=-all',
      ],
      ...[process.execPath, CLI, '--listen-port', '9318', '--mode', mode],
    ]);
    assert.equal(result.code, 1);
    assertOneLine(
      result.stderr,
      /^conntrack-exporter: permission denied reading the conntrack table; run as root or with CAP_NET_ADMIN \(docker run --cap-add=NET_ADMIN/,
    );
  });
}

test('an unprivileged user holding only CAP_NET_ADMIN can run it', async (t) => {
  const ns = await createNamespace(t);
  const setpriv = [
    ...['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'],
    ...[
      '--inh-caps=-all,+net_admin',
      '--ambient-caps=-all,+net_admin',
      '--bounding-set=-all,+net_admin',
    ],
  ];
  const exporter = await startExporter(ns, [], { launcher: setpriv });
  assert.match(
    await exporter.scrape(),
    /conntrack_exporter_scrape_collector_success\{collector="conntrack"\} 1/,
  );
  assert.equal(await exporter.stop(), 0);
});

test('a port already in use: one line naming the port and the option, exit 1', async (t) => {
  const ns = await createNamespace(t);
  const first = await startExporter(ns, []);
  const second = await ns.exec([process.execPath, CLI, '--listen-port', '9318']);
  assert.equal(second.code, 1);
  // Start-up notes (an empty table, events mode, more privilege than needed)
  // come first; the failure itself is the last line, and the only error.
  const lines = second.stderr.trimEnd().split('\n');
  assert.match(
    lines.at(-1)!,
    /^conntrack-exporter: \[::\]:9318 is already in use; stop the other process or choose another port with --listen-port$/,
  );
  assert.ok(
    lines.slice(0, -1).every((line) => /^conntrack-exporter: /.test(line) && !/error/.test(line)),
    second.stderr,
  );
  assert.equal(await first.stop(), 0);
});

test('a bind address that is not on this host: one line, exit 1', async (t) => {
  const ns = await createNamespace(t);
  const result = await ns.exec([process.execPath, CLI, '--bind-address', '198.51.100.1']);
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /^conntrack-exporter: cannot listen on 198\.51\.100\.1:9318: the address is not on this host/m,
  );
  assert.doesNotMatch(result.stderr, /\n\s+at /);
});

test('IPv6 bind address', async (t) => {
  const ns = await createNamespace(t);
  const exporter = await startExporter(ns, ['--bind-address', '::1']);
  const result = await ns.exec(['curl', '-sS', '--fail', 'http://[::1]:9318/metrics']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /conntrack_exporter_build_info/);
  assert.match(exporter.stderr(), /serving metrics on http:\/\/\[::1\]:9318\/metrics/);
  assert.equal(await exporter.stop(), 0);
});
