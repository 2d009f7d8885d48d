/**
 * Least privilege on the built exporter: it warns once when it holds more
 * than CAP_NET_ADMIN, and not when it holds just that, whatever its uid.
 * (Running without the capability at all: exporter-failures.test.ts.)
 */
import assert from 'node:assert/strict';
import test from 'node:test';

import { startExporter } from '../helpers/exporter';
import { createNamespace } from '../helpers/netns';

const WARNING = /warning: running .* it does not need/g;
const SUCCESS = /^conntrack_exporter_scrape_collector_success\{collector="conntrack"\} 1$/m;

/** setpriv as uid 65534 with exactly these capabilities, passed on to node as ambient ones. */
function unprivileged(caps: string): string[] {
  return [
    ...['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'],
    ...[`--inh-caps=-all,${caps}`, `--ambient-caps=-all,${caps}`, `--bounding-set=-all,${caps}`],
  ];
}

test('root with every capability: one warning at start, naming the fix', async (t) => {
  const ns = await createNamespace(t);
  const exporter = await startExporter(ns, ['--no-resolve-hosts']);
  await exporter.scrape();
  await exporter.scrape();
  const warnings = exporter.stderr().match(WARNING) ?? [];
  assert.equal(warnings.length, 1, exporter.stderr());
  assert.match(
    exporter.stderr(),
    /^conntrack-exporter: warning: running as root with \d+ capabilities it does not need \(CAP_DAC_OVERRIDE, CAP_SYS_ADMIN, \.\.\.\); only CAP_NET_ADMIN is needed: run it as an unprivileged user holding just that/m,
  );
  assert.equal(await exporter.stop(), 0);
});

test('root reduced to CAP_NET_ADMIN: no warning', async (t) => {
  const ns = await createNamespace(t);
  const exporter = await startExporter(ns, ['--no-resolve-hosts'], {
    launcher: ['setpriv', '--bounding-set=-all,+net_admin', '--inh-caps=-all'],
  });
  assert.match(await exporter.scrape(), SUCCESS);
  assert.doesNotMatch(exporter.stderr(), WARNING);
  assert.equal(await exporter.stop(), 0);
});

test('an unprivileged user with only CAP_NET_ADMIN: works, no warning', async (t) => {
  const ns = await createNamespace(t);
  const exporter = await startExporter(ns, ['--no-resolve-hosts'], {
    launcher: unprivileged('+net_admin'),
  });
  assert.match(await exporter.scrape(), SUCCESS);
  assert.doesNotMatch(exporter.stderr(), WARNING);
  assert.equal(await exporter.stop(), 0);
});

test('an unprivileged user with a capability too many: warned about that one', async (t) => {
  const ns = await createNamespace(t);
  const exporter = await startExporter(ns, ['--no-resolve-hosts'], {
    launcher: unprivileged('+net_admin,+sys_ptrace'),
  });
  assert.match(await exporter.scrape(), SUCCESS);
  assert.match(
    exporter.stderr(),
    /warning: running as uid 65534 with 1 capability it does not need \(CAP_SYS_PTRACE\)/,
  );
  assert.equal(await exporter.stop(), 0);
});
