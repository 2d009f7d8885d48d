/**
 * The built programs, `conntrack-exporter proxy` and `tcp-metrics-proxy`,
 * as users run them: bytes through, metrics scraped, drained on SIGTERM,
 * and one clear line with exit code 2 for a bad command line.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'node:test';

import bcrypt from 'bcryptjs';

import {
  CLI,
  connect,
  DIST,
  echoTarget,
  howItEnds,
  httpGet,
  proxyArgs,
  randomBytes,
  readAll,
  scrapeUntil,
  sha256,
  startProxy,
  startServer,
  unusedPort,
  within,
  writeAll,
} from '../helpers/proxy-net';

const DROP_IN = path.join(DIST, 'bin', 'tcp-metrics-proxy.js');

/** Resolves each time a connection reaches the target, i.e. the proxy has accepted and dialed it. */
class Arrivals {
  private count = 0;
  private waiters: Array<{ n: number; resolve: () => void }> = [];
  arrived = (): void => {
    this.count++;
    this.waiters = this.waiters.filter((w) => (w.n <= this.count ? (w.resolve(), false) : true));
  };
  until(n: number): Promise<void> {
    if (this.count >= n) return Promise.resolve();
    return within(new Promise((resolve) => this.waiters.push({ n, resolve })), 'the target');
  }
}

test('conntrack-exporter proxy: bytes through unchanged, counted in prefixed metrics', async (t) => {
  const proxy = await startProxy(t, CLI, proxyArgs(await echoTarget(t), ['--id', 'e2e-1']));
  const p = 'conntrack_exporter_proxy_';
  const id = '{id="e2e-1"}';

  // While a connection is open, a scrape already counts every byte it moved.
  const open = await connect(t, proxy.port);
  open.write(Buffer.alloc(1000, 7));
  await within(once(open, 'data'), 'the first echo');
  const live = await scrapeUntil(proxy, (s) => s.get(`${p}client_sent_bytes_total${id}`) === 1000);
  assert.equal(live.get(`${p}client_received_bytes_total${id}`), 1000);
  assert.equal(live.get(`${p}active_inbound_connections${id}`), 1);
  assert.equal(live.get(`${p}active_outbound_connections${id}`), 1);
  open.end();
  await within(once(open, 'close'), 'the first connection to close');

  const data = randomBytes(3 * 1024 * 1024 + 17);
  const client = await connect(t, proxy.port);
  const echoed = readAll(client);
  await writeAll(client, data);
  assert.equal(sha256(await within(echoed, 'the echo')), sha256(data));

  const series = await scrapeUntil(
    proxy,
    (s) => s.get(`${p}active_inbound_connections${id}`) === 0,
  );
  for (const name of ['client_received', 'target_sent', 'target_received', 'client_sent']) {
    assert.equal(series.get(`${p}${name}_bytes_total${id}`), 1000 + data.length, name);
  }
  assert.equal(series.get(`${p}connections_accepted_total${id}`), 2);
  assert.equal(series.get(`${p}connections_dialed_total${id}`), 2);
  assert.equal(series.get(`${p}active_outbound_connections${id}`), 0);
  // However many scrapes the wait took, the next one counts one more.
  const requests = (s: Map<string, number>) =>
    s.get(`${p}http_requests_total{id="e2e-1",code="200"}`) ?? 0;
  const again = await proxy.scrape();
  assert.equal(requests(again) - requests(series), 1);
  assert.equal((await httpGet(proxy.metricsUrl.replace('/metrics', '/'))).status, 404);
});

test('tcp-metrics-proxy takes the Go flags verbatim and exports the Go metric names', async (t) => {
  const target = await echoTarget(t);
  // Quotes kept, as when a manifest passes the arguments without a shell.
  const proxy = await startProxy(t, DROP_IN, [
    '-listen="127.0.0.1:0"',
    `-target="127.0.0.1:${target}"`,
    '-metrics="127.0.0.1:0"',
  ]);
  const client = await connect(t, proxy.port);
  const echoed = readAll(client);
  await writeAll(client, Buffer.from('Hello, server!\n'));
  assert.equal((await within(echoed, 'the echo')).toString(), 'Hello, server!\n');
  const series = await scrapeUntil(proxy, (s) =>
    [...s].some(([key, value]) => key.startsWith('active_inbound_connections{') && value === 0),
  );
  const byName = new Map(
    [...series].map(([key, value]) => [key.replace(/\{id="[^"]+"\}$/, ''), value]),
  );
  assert.equal(byName.get('inbound_bytes_count'), 30);
  assert.equal(byName.get('outbound_bytes_count'), 30);
  assert.equal(byName.get('inbound_connection_count'), 1);
  assert.equal(byName.get('outbound_connection_count'), 1);
  assert.equal(byName.get('active_outbound_connections'), 0);
  assert.equal(series.get('promhttp_metric_handler_requests_in_flight'), 1);
  assert.ok(series.has('promhttp_metric_handler_requests_total{code="200"}'));
  const id = /^active_inbound_connections\{id="([^"]+)"\}$/.exec(
    [...series.keys()].find((key) => key.startsWith('active_inbound')) ?? '',
  )?.[1];
  assert.match(id ?? '', /^[0-9a-f-]{36}$/);
});

test('SIGTERM: an open connection finishes its transfer, a new one is refused, exit 0', async (t) => {
  const arrivals = new Arrivals();
  const target = await startServer(t, (socket) => {
    arrivals.arrived();
    // Answers with the hash only after the client's FIN: the transfer spans the SIGTERM.
    void readAll(socket).then(
      (data) => socket.end(sha256(data)),
      () => {},
    );
  });
  const proxy = await startProxy(t, CLI, proxyArgs(target.port));
  const data = randomBytes(2 * 1024 * 1024);
  const client = await connect(t, proxy.port);
  const answer = readAll(client);
  await writeAll(client, data.subarray(0, 1024 * 1024), { end: false });
  await arrivals.until(1);

  proxy.child.kill('SIGTERM');
  await proxy.waitForLog(/stopped accepting; waiting for 1 open connection to finish/);
  const refused = net.connect({ host: '127.0.0.1', port: proxy.port });
  const [error] = (await within(once(refused, 'error'), 'the new connection to fail')) as [
    NodeJS.ErrnoException,
  ];
  assert.equal(error.code, 'ECONNREFUSED');

  await writeAll(client, data.subarray(1024 * 1024));
  assert.equal((await within(answer, 'the answer')).toString(), sha256(data));
  assert.deepEqual(await within(proxy.exited, 'the proxy to exit'), { code: 0, signal: null });
  assert.match(proxy.stderr(), /drained: every connection has finished/);
});

test('a second signal stops at once; a drain timeout resets what is left', async (t) => {
  const arrivals = new Arrivals();
  const target = await echoTarget(t, arrivals.arrived);
  const first = await startProxy(t, CLI, proxyArgs(target));
  const client = await connect(t, first.port);
  const ending = howItEnds(client);
  await arrivals.until(1);
  first.child.kill('SIGTERM');
  await first.waitForLog(/waiting for 1 open connection/);
  first.child.kill('SIGINT');
  assert.deepEqual(await within(first.exited, 'the proxy to exit'), { code: 130, signal: null });
  assert.equal(await within(ending, 'the client to be cut'), 'reset');

  const second = await startProxy(t, CLI, proxyArgs(target, ['--drain-timeout', '300ms']));
  const client2 = await connect(t, second.port);
  const ending2 = howItEnds(client2);
  await arrivals.until(2);
  second.child.kill('SIGINT');
  assert.deepEqual(await within(second.exited, 'the proxy to exit'), { code: 1, signal: null });
  assert.equal(await within(ending2, 'the client to be cut'), 'reset');
  assert.match(second.stderr(), /drain timeout \(300ms\): resetting 1 open connection still open/);
});

/** Runs a program that must fail at once; returns its exit code and stderr. */
function runFailing(script: string, args: string[]): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [script, ...args], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: result.status, stderr: result.stderr };
}

test('bad addresses, a port in use, an empty target: one line and exit code 2', async (t) => {
  const busy = await startServer(t, () => {});
  const cases: Array<[string, string[], RegExp]> = [
    [
      CLI,
      ['proxy', '--listen', 'nonsense', '--target', ':1', '--metrics', ':0'],
      /^conntrack-exporter: --listen "nonsense": expected HOST:PORT \(the port is missing\)\n$/,
    ],
    [
      CLI,
      ['proxy', '--listen', ':0', '--target', '127.0.0.1:99999', '--metrics', ':0'],
      /^conntrack-exporter: --target "127\.0\.0\.1:99999": port 99999 is out of range 1-65535\n$/,
    ],
    [
      CLI,
      ['proxy', '--listen', ':0', '--metrics', ':0'],
      /^conntrack-exporter: missing --target HOST:PORT \(the address to forward connections to\)\n$/,
    ],
    [
      CLI,
      ['proxy', '--listen', `127.0.0.1:${busy.port}`, '--target', ':1', '--metrics', ':0'],
      /^conntrack-exporter: --listen 127\.0\.0\.1:\d+: address already in use\n$/,
    ],
    [
      CLI,
      ['proxy', '--listen', '127.0.0.1:0', '--target', ':1', '--metrics', `127.0.0.1:${busy.port}`],
      /^conntrack-exporter: --metrics 127\.0\.0\.1:\d+: address already in use\n$/,
    ],
    [
      CLI,
      ['proxy', '--listen', '192.0.2.1:0', '--target', ':1', '--metrics', ':0'],
      /^conntrack-exporter: --listen 192\.0\.2\.1:0: no such address on this host\n$/,
    ],
    [
      DROP_IN,
      ['-listen=127.0.0.1:3000', '-target=', '-metrics=127.0.0.1:3002'],
      /^tcp-metrics-proxy: missing -target HOST:PORT/,
    ],
    [
      DROP_IN,
      ['-listen=127.0.0.1:3000', '-target=[::1:3001', '-metrics=:0'],
      /^tcp-metrics-proxy: -target "\[::1:3001": expected \[IPv6\]:PORT\n$/,
    ],
    [
      DROP_IN,
      ['-listen', `127.0.0.1:${busy.port}`, '-target=:1', '-metrics=:0'],
      /^tcp-metrics-proxy: -listen 127\.0\.0\.1:\d+: address already in use\n$/,
    ],
    [
      CLI,
      ['proxy', '--listen', ':0', '--target', ':1', '--metrics', ':0', '--workers', '0'],
      /^conntrack-exporter: --workers "0": must be a whole number from 1 to 64\n$/,
    ],
    [
      DROP_IN,
      ['-listen=:0', '-target=:1', '-metrics=:0', '-workers=100'],
      /^tcp-metrics-proxy: -workers "100": must be a whole number from 1 to 64\n$/,
    ],
    [DROP_IN, ['-lsiten=:1'], /^tcp-metrics-proxy: flag provided but not defined: -lsiten\n$/],
  ];
  for (const [script, args, message] of cases) {
    const { status, stderr } = runFailing(script, args);
    assert.equal(status, 2, `${args.join(' ')}: ${stderr}`);
    assert.match(stderr, message, args.join(' '));
  }
});

test('a flapping target: every dial either carries bytes intact or fails promptly and is counted', async (t) => {
  const port = await unusedPort();
  const proxy = await startProxy(t, CLI, proxyArgs(port, ['--id', 'flap', '--dial-timeout', '2s']));
  const p = 'conntrack_exporter_proxy_';
  let failures = 0;
  for (let round = 0; round < 4; round++) {
    // Up: an echo server on the target port.
    const sockets = new Set<net.Socket>();
    const target = net.createServer({ allowHalfOpen: true }, (socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.pipe(socket);
    });
    target.listen(port, '127.0.0.1');
    await within(once(target, 'listening'), 'the target to listen');
    const data = randomBytes(64 * 1024 + round);
    const client = await connect(t, proxy.port);
    const echoed = readAll(client);
    await writeAll(client, data);
    assert.equal(sha256(await within(echoed, 'the echo')), sha256(data), `round ${round} up`);

    // Down: the target goes away, its open connections reset.
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => target.close(resolve));
    // The proxy may reset the client before or after its connect completes.
    const refused = net.connect({ host: '127.0.0.1', port: proxy.port });
    let received = 0;
    refused.on('data', (chunk: Buffer) => (received += chunk.length));
    // A reset is the expected way for it to end; once() would reject on it.
    refused.on('error', () => {});
    await within(
      new Promise((resolve) => refused.on('close', resolve)),
      'the refused client to be closed',
    );
    assert.equal(received, 0);
    failures++;
    // Scrapes are served throughout.
    const series = await scrapeUntil(
      proxy,
      (s) => (s.get(`${p}dial_failures_total{id="flap",reason="refused"}`) ?? 0) >= failures,
    );
    assert.equal(series.get(`${p}connections_dialed_total{id="flap"}`), round + 1);
  }
  assert.equal(proxy.child.exitCode, null, 'the proxy is still running');
});

test('--web.config.file: basic auth on the metrics server, re-read on SIGHUP', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'proxy-web-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'web.yml');
  await writeFile(file, `basic_auth_users:\n  prometheus: ${bcrypt.hashSync('s3cret', 4)}\n`);
  const proxy = await startProxy(
    t,
    CLI,
    proxyArgs(await echoTarget(t), ['--web.config.file', file]),
  );
  const status = (authorization?: string) =>
    new Promise<number>((resolve, reject) => {
      http
        .get(proxy.metricsUrl, { headers: authorization ? { authorization } : {} }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        })
        .on('error', reject);
    });
  assert.equal(await status(), 401);
  assert.equal(await status(`Basic ${Buffer.from('prometheus:s3cret').toString('base64')}`), 200);
  await writeFile(file, '');
  proxy.child.kill('SIGHUP');
  await proxy.waitForLog(/basic auth is now off/);
  assert.equal(await status(), 200);
});
