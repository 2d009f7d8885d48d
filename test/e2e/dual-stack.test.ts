/**
 * Every metrics server listens on IPv6 and IPv4 by default, on one socket
 * (as Go's ':port' does), and still starts, on IPv4, where IPv6 is disabled.
 *
 * Two ways IPv6 can be "disabled", and only one reaches the fallback:
 * - net.ipv6.conf.*.disable_ipv6=1 (per network namespace, tested below)
 *   removes every IPv6 address, but the kernel still makes IPv6 sockets and
 *   binds '::' (the any address needs no interface address): the server
 *   listens on '::' as before and answers IPv4 through mapped addresses.
 *   Node's fallback to 0.0.0.0 does not run there.
 * - A kernel booted with ipv6.disable=1 (or built without IPv6) refuses
 *   socket(AF_INET6) with EAFNOSUPPORT: that is where the fallback runs. A
 *   boot parameter cannot be set for one namespace, so the test makes
 *   socket(AF_INET6) fail the same way in the server's process alone, with
 *   a preloaded library (LD_PRELOAD), and checks that it then serves IPv4.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type TestContext } from 'node:test';

import { missingProgram, missingComponent } from '../helpers/components';
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

// What a kernel without IPv6 answers to socket(AF_INET6, ...), and nothing else changed.
const NO_IPV6_SOCKETS = `
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/socket.h>
int socket(int domain, int type, int protocol) {
  static int (*real)(int, int, int);
  if (domain == AF_INET6) {
    errno = EAFNOSUPPORT;
    return -1;
  }
  if (!real) real = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
  return real(domain, type, protocol);
}
`;

/** Builds the library above; undefined (the test skipped) without a C compiler. */
function kernelWithoutIPv6(t: TestContext): string | undefined {
  if (missingComponent(t, missingProgram('cc', 'apt-get install gcc'))) return undefined;
  const dir = mkdtempSync(path.join(tmpdir(), 'cte-no-ipv6-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'no-ipv6.c'), NO_IPV6_SOCKETS);
  const library = path.join(dir, 'no-ipv6.so');
  const built = spawnSync('cc', ['-shared', '-fPIC', '-o', library, path.join(dir, 'no-ipv6.c')], {
    encoding: 'utf8',
  });
  assert.equal(built.status, 0, built.stderr);
  return library;
}

/** The listening TCP sockets on `port` in ns, as ss prints their local address. */
async function listening(ns: Namespace, port: number): Promise<string[]> {
  const result = await ns.exec(['ss', '-Hltn', `sport = :${port}`]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split(/\s+/)[3] ?? '');
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
    // Still the one IPv6 socket (see the top of this file): no fallback here.
    assert.deepEqual(await listening(ns, options.port), [`*:${options.port}`]);
    assert.equal(await exporter.stop(), 0);
  });

  test(`${command}: on a kernel without IPv6, it falls back to IPv4 alone`, async (t) => {
    const library = kernelWithoutIPv6(t);
    if (library === undefined) return;
    const ns = await createNamespace(t);
    const exporter = await startExporter(ns, [], { ...options, env: { LD_PRELOAD: library } });
    assert.match(
      exporter.stderr(),
      new RegExp(`serving metrics on http://0\\.0\\.0\\.0:${options.port}/`),
    );
    assert.deepEqual(await listening(ns, options.port), [`0.0.0.0:${options.port}`]);
    assert.equal(await status(ns, `http://127.0.0.1:${options.port}/metrics`), '200');
    assert.equal(await exporter.stop(), 0);
  });
}

const PROXY_CASES = [
  { name: 'IPv6 and IPv4', kernel: 'ipv6' },
  { name: 'IPv4 where IPv6 is disabled', kernel: 'disable_ipv6' },
  { name: 'IPv4 alone on a kernel without IPv6', kernel: 'none' },
] as const;

for (const { name, kernel } of PROXY_CASES) {
  test(`tcp-metrics-proxy -metrics :PORT: ${name}`, async (t) => {
    const library = kernel === 'none' ? kernelWithoutIPv6(t) : undefined;
    if (kernel === 'none' && library === undefined) return;
    const ns = await createNamespace(t);
    if (kernel === 'disable_ipv6') await disableIPv6(ns);
    const child = ns.spawn(
      [
        process.execPath,
        PROXY,
        '-listen=127.0.0.1:3000',
        '-target=127.0.0.1:3001',
        '-metrics=:3002',
      ],
      { env: { ...process.env, ...(library === undefined ? {} : { LD_PRELOAD: library }) } },
    );
    t.after(() => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    await waitFor(() => /metrics on/.test(stderr), 15_000, `the proxy to start: ${stderr}`);
    assert.equal(await status(ns, 'http://127.0.0.1:3002/metrics'), '200');
    if (kernel === 'ipv6') assert.equal(await status(ns, 'http://[::1]:3002/metrics'), '200');
    assert.deepEqual(await listening(ns, 3002), [kernel === 'none' ? '0.0.0.0:3002' : '*:3002']);
  });
}
