import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import test, { type TestContext } from 'node:test';
import bcrypt from 'bcryptjs';
import { Registry } from 'prom-client';

import { registerLegacyProxyMetrics } from '../../src/proxy/legacy-metrics';
import { registerProxyMetrics } from '../../src/proxy/metrics';
import {
  closeMetricsServer,
  serverAddress,
  startMetricsServer,
  type ScrapeInstruments,
} from '../../src/proxy/metrics-server';
import { ProxyTraffic, TRAFFIC_COUNTERS, type TrafficCounter } from '../../src/proxy/traffic';
import { httpGet, parseMetrics } from '../helpers/proxy-net';

function busyTraffic(): ProxyTraffic {
  const traffic = new ProxyTraffic();
  // As the native relay sums them.
  const counts: Record<TrafficCounter, number> = {
    activeInbound: 3,
    activeOutbound: 2,
    accepted: 10,
    dialed: 8,
    clientReceived: 1000,
    targetSent: 900,
    targetReceived: 5000,
    clientSent: 4990,
  };
  traffic.countFrom((into) => {
    for (const [index, name] of TRAFFIC_COUNTERS.entries()) into[index] = counts[name];
  });
  traffic.dialFailures.refused = 1;
  traffic.dialFailures.timeout = 1;
  return traffic;
}

/**
 * Lints the exposition with promtool where it is installed (the Makefile's
 * test packages); `allowed` are complaints about names we must keep.
 */
function promtoolCheck(t: TestContext, text: string, allowed: RegExp[] = []): void {
  const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (result.error) {
    t.diagnostic('promtool not installed; exposition not linted');
    return;
  }
  const complaints = `${result.stdout}${result.stderr}`
    .split('\n')
    .filter((line) => line.trim() !== '' && !allowed.some((pattern) => pattern.test(line)));
  assert.deepEqual(complaints, []);
}

test('conventional names: prefixed, {id}, base units, _total on counters only', async (t) => {
  const registry = new Registry();
  registerProxyMetrics(registry, busyTraffic(), 'edge-1');
  const text = await registry.metrics();
  const series = parseMetrics(text);
  const p = 'conntrack_exporter_proxy_';
  const expected: Record<string, number> = {
    [`${p}active_inbound_connections{id="edge-1"}`]: 3,
    [`${p}active_outbound_connections{id="edge-1"}`]: 2,
    [`${p}connections_accepted_total{id="edge-1"}`]: 10,
    [`${p}connections_dialed_total{id="edge-1"}`]: 8,
    [`${p}dial_failures_total{id="edge-1",reason="refused"}`]: 1,
    [`${p}dial_failures_total{id="edge-1",reason="timeout"}`]: 1,
    [`${p}dial_failures_total{id="edge-1",reason="unreachable"}`]: 0,
    [`${p}dial_failures_total{id="edge-1",reason="resolve"}`]: 0,
    [`${p}dial_failures_total{id="edge-1",reason="other"}`]: 0,
    [`${p}client_received_bytes_total{id="edge-1"}`]: 1000,
    [`${p}target_sent_bytes_total{id="edge-1"}`]: 900,
    [`${p}target_received_bytes_total{id="edge-1"}`]: 5000,
    [`${p}client_sent_bytes_total{id="edge-1"}`]: 4990,
    [`${p}http_requests_in_flight{id="edge-1"}`]: 0,
    [`${p}http_requests_total{id="edge-1",code="200"}`]: 0,
  };
  for (const [key, value] of Object.entries(expected)) assert.equal(series.get(key), value, key);
  assert.match(text, /# TYPE conntrack_exporter_proxy_active_inbound_connections gauge/);
  assert.match(text, /# TYPE conntrack_exporter_proxy_client_sent_bytes_total counter/);
  assert.ok(series.has('process_resident_memory_bytes'));
  promtoolCheck(t, text);
});

test('legacy names: exactly the Go proxy’s series', async (t) => {
  const registry = new Registry();
  registerLegacyProxyMetrics(registry, busyTraffic(), 'abc');
  const text = await registry.metrics();
  const series = parseMetrics(text);
  const expected: Record<string, number> = {
    'active_inbound_connections{id="abc"}': 3,
    'active_outbound_connections{id="abc"}': 2,
    'inbound_bytes_count{id="abc"}': 1000 + 4990,
    'outbound_bytes_count{id="abc"}': 900 + 5000,
    'inbound_connection_count{id="abc"}': 10,
    'outbound_connection_count{id="abc"}': 8,
    promhttp_metric_handler_requests_in_flight: 0,
    'promhttp_metric_handler_requests_total{code="200"}': 0,
    'promhttp_metric_handler_requests_total{code="500"}': 0,
    'promhttp_metric_handler_requests_total{code="503"}': 0,
  };
  for (const [key, value] of Object.entries(expected)) assert.equal(series.get(key), value, key);
  assert.match(text, /# TYPE inbound_bytes_count counter/);
  assert.ok(![...series.keys()].some((key) => key.startsWith('conntrack_exporter_')));
  // The Go proxy's names break two conventions; dashboards depend on them as they are.
  promtoolCheck(t, text, [
    /^(in|out)bound_(bytes|connection)_count (counter metrics should|non-histogram)/,
  ]);
});

test('metrics server: GET and HEAD on the path, 404 elsewhere, 405 otherwise, all counted', async (t) => {
  const registry = new Registry();
  const counts: number[] = [];
  let inFlightMax = 0;
  let inFlight = 0;
  const instruments: ScrapeInstruments = {
    started: () => (inFlightMax = Math.max(inFlightMax, ++inFlight)),
    finished: (code) => {
      inFlight--;
      counts.push(code);
    },
  };
  registerProxyMetrics(registry, new ProxyTraffic(), 'x');
  const server = await startMetricsServer({
    address: { host: '127.0.0.1', port: 0 },
    path: '/probe',
    registry,
    instruments,
  });
  t.after(() => closeMetricsServer(server));
  const base = `http://127.0.0.1:${serverAddress(server).port}`;

  const get = await httpGet(`${base}/probe?x=1`);
  assert.equal(get.status, 200);
  assert.match(String(get.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  assert.match(get.body, /conntrack_exporter_proxy_connections_accepted_total\{id="x"\} 0/);
  const head = await httpGet(`${base}/probe`, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal((await httpGet(`${base}/`)).status, 404);
  assert.equal((await httpGet(`${base}/metrics`)).status, 404);
  const post = await httpGet(`${base}/probe`, 'POST');
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
  assert.deepEqual(counts, [200, 200, 404, 404, 405]);
  assert.equal(inFlight, 0);
  assert.equal(inFlightMax, 1);
});

test("metrics server: the exporter's limits and web config (basic auth, connections per client)", async (t) => {
  const registry = new Registry();
  registerProxyMetrics(registry, new ProxyTraffic(), 'x');
  const hash = bcrypt.hashSync('s3cret', 4);
  const server = await startMetricsServer({
    address: { host: '127.0.0.1', port: 0 },
    path: '/metrics',
    registry,
    instruments: { started: () => undefined, finished: () => undefined },
    web: { file: 'web.yml', users: new Map([['prometheus', hash]]), headers: {} },
  });
  t.after(() => closeMetricsServer(server));
  const { port } = serverAddress(server);
  const status = (authorization?: string) =>
    new Promise<number>((resolve, reject) => {
      http
        .get(
          {
            host: '127.0.0.1',
            port,
            path: '/metrics',
            agent: false,
            headers: authorization === undefined ? {} : { authorization },
          },
          (response) => {
            response.resume();
            resolve(response.statusCode ?? 0);
          },
        )
        .on('error', reject);
    });
  assert.equal(await status(), 401);
  const good = `Basic ${Buffer.from('prometheus:s3cret').toString('base64')}`;
  assert.equal(await status(good), 200);
  // One address holds at most 32 connections: the 33rd is closed at once.
  const held = await Promise.all(
    Array.from(
      { length: 32 },
      () =>
        new Promise<net.Socket>((resolve) => {
          const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
        }),
    ),
  );
  t.after(() => held.forEach((socket) => socket.destroy()));
  await assert.rejects(status(good), /socket hang up|ECONNRESET/);
  // CONNECT is answered, not dropped.
  const answer = await new Promise<string>((resolve) => {
    held.pop()?.destroy();
    setTimeout(() => {
      const socket = net.connect(port, '127.0.0.1', () =>
        socket.write('CONNECT a:1 HTTP/1.1\r\nHost: a\r\n\r\n'),
      );
      let text = '';
      socket.on('data', (chunk) => (text += String(chunk)));
      socket.on('close', () => resolve(text));
    }, 100);
  });
  assert.match(answer, /^HTTP\/1\.1 405 /);
});
