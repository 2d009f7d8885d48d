import assert from 'node:assert/strict';
import test from 'node:test';

import { runAs } from '../helpers/run-as';

/** The effective value of each option, from --print-config. */
function printedConfig(name: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = runAs(name, [...args, '--print-config'], env);
  assert.equal(result.status, 0, result.stderr);
  return new Map(
    result.stdout
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => {
        const [option = '', value = ''] = line.replace(/ +#.*$/, '').split(' ');
        return [option, value];
      }),
  );
}

test("conntrack_exporter defaults to the original's v0.3.1 layout and addresses", () => {
  const original = printedConfig('conntrack_exporter', []);
  assert.equal(original.get('metric-layout'), 'v0.3');
  assert.equal(original.get('resolve-hosts'), 'false');
  const own = printedConfig('conntrack-exporter', []);
  assert.equal(own.get('metric-layout'), 'native');
  assert.equal(own.get('resolve-hosts'), 'true');
});

test('--metric-layout: every layout on both commands, from a flag or the environment', () => {
  for (const name of ['conntrack-exporter', 'conntrack_exporter']) {
    for (const layout of ['native', 'v0.3', 'v0.1']) {
      assert.equal(printedConfig(name, ['--metric-layout', layout]).get('metric-layout'), layout);
      const env = { CONNTRACK_EXPORTER_METRIC_LAYOUT: layout };
      assert.equal(printedConfig(name, [], env).get('metric-layout'), layout);
    }
  }
});

test('a layout that does not exist is refused in one line, exit 2', () => {
  const result = runAs('conntrack-exporter', ['--metric-layout', 'v0.2']);
  assert.equal(result.status, 2);
  assert.equal(
    result.stderr,
    "conntrack-exporter: --metric-layout: 'v0.2' is not one of native, v0.3, v0.1; see --help\n",
  );
  const fromEnv = runAs('conntrack_exporter', [], { CONNTRACK_EXPORTER_METRIC_LAYOUT: 'legacy' });
  assert.equal(fromEnv.status, 2);
  assert.match(
    fromEnv.stderr,
    /^conntrack-exporter: .*'legacy' is not one of native, v0\.3, v0\.1.*\n$/,
  );
  assert.match(fromEnv.stderr, /CONNTRACK_EXPORTER_METRIC_LAYOUT/);
});

test('--legacy-metric-names with another layout than the default is refused', () => {
  const result = runAs('conntrack-exporter', [
    '--legacy-metric-names',
    '--metric-layout',
    'v0.3',
    '--mode',
    'dump',
  ]);
  assert.equal(result.status, 2);
  assert.equal(
    result.stderr,
    'conntrack-exporter: --legacy-metric-names means --metric-layout v0.1, but --metric-layout is v0.3; give one of them\n',
  );
});
