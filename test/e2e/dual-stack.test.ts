/**
 * Every metrics server listens on IPv6 and IPv4 by default, on one socket
 * (as Go's ':port' does), and still starts, on IPv4, where IPv6 is disabled.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import test from 'node:test';

import { startExporter } from '../helpers/exporter';
import { createNamespace, waitFor, type Namespace } from '../helpers/netns';

const DIST = path.join(__dirname, '..', '..', 'dist');
const LONGTERM = path.join(DIST, 'bin', 'tcp-established-exporter.js');
const PROXY = path.join(DIST, 'bin', 'tcp-metrics-proxy.js');

/** The HTTP status of GET url from inside ns, or the curl failure. */
async function status(ns: Namespace, url: string): Promise<string> {
  const result = await ns.exec([
    'curl',
    '-sS',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    '--max-time',
    '10',
    url,
  ]);
  return result.code === 0 ? result.stdout : `curl exit ${result.code}`;
}

async function disableIPv6(ns: Namespace): Promise<void> {
  for (const name of ['all', 'default', 'lo']) {
    const result = await ns.exec(['sysctl', '-q', '-w', `net.ipv6.conf.${name}.disable_ipv6=1`]);
    assert.equal(result.code, 0, result.stderr);
  }
  // The test means something only if IPv6 is really gone from the namespace.
  assert.equal((await ns.exec(['ip', '-6', 'address', 'show'])).stdout.trim(), '');
}

const EXPORTERS = [
  { command: 'conntrack-exporter', options: { port: 9318 } },
  {
    command: 'tcp_established_exporter',
    options: { program: LONGTERM, port: 9690, listenArgs: [] },
  },
] as const;

for (const { command, options } of EXPORTERS) {
  test(`${command}: by default, one server for IPv6 and IPv4`, async (t) => {
    const ns = await createNamespace(t);
    const exporter = await startExporter(ns, [], options);
    assert.match(
      exporter.stderr(),
      new RegExp(`serving metrics on http://\\[::\\]:${options.port}/`),
    );
    assert.equal(await status(ns, `http://127.0.0.1:${options.port}/metrics`), '200');
    assert.equal(await status(ns, `http://[::1]:${options.port}/metrics`), '200');
    assert.equal(await exporter.stop(), 0);
  });

  test(`${command}: where IPv6 is disabled, it serves IPv4`, async (t) => {
    const ns = await createNamespace(t);
    await disableIPv6(ns);
    const exporter = await startExporter(ns, [], options);
    assert.equal(await status(ns, `http://127.0.0.1:${options.port}/metrics`), '200');
    assert.equal(await exporter.stop(), 0);
  });
}

for (const ipv6 of [true, false]) {
  test(`tcp-metrics-proxy -metrics :PORT: IPv6 and IPv4${ipv6 ? '' : ', IPv4 alone where IPv6 is disabled'}`, async (t) => {
    const ns = await createNamespace(t);
    if (!ipv6) await disableIPv6(ns);
    const child = ns.spawn([
      process.execPath,
      PROXY,
      '-listen=127.0.0.1:3000',
      '-target=127.0.0.1:3001',
      '-metrics=:3002',
    ]);
    t.after(() => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    await waitFor(() => /metrics on/.test(stderr), 15_000, `the proxy to start: ${stderr}`);
    assert.equal(await status(ns, 'http://127.0.0.1:3002/metrics'), '200');
    if (ipv6) assert.equal(await status(ns, 'http://[::1]:3002/metrics'), '200');
  });
}
