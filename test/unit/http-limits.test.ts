/**
 * What a client can and cannot make the endpoint do: bodies, gzip, the
 * concurrency cap, shared renders, the rate limit, slow and idle clients.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import test from 'node:test';
import { gunzipSync } from 'node:zlib';

import { Gauge, Registry } from 'prom-client';

import { acceptsGzip } from '../../src/http/shared-render';
import { WebConfig } from '../../src/http/web-config';
import { serveMetrics } from '../helpers/metrics-server';
import { waitFor } from '../helpers/netns';

/** A registry whose collection waits for `release()`, and counts its collections. */
function gatedRegistry(): { registry: Registry; release(): void; collections(): number } {
  const registry = new Registry();
  let open: () => void = () => undefined;
  let gate = new Promise<void>((resolve) => (open = resolve));
  let count = 0;
  new Gauge({
    name: 'gated_value',
    help: 'Waits for the test.',
    registers: [registry],
    async collect() {
      count++;
      await gate;
      this.set(1);
    },
  });
  return {
    registry,
    release: () => {
      open();
      gate = Promise.resolve();
    },
    collections: () => count,
  };
}

function plainRegistry(lines = 1): Registry {
  const registry = new Registry();
  const gauge = new Gauge({ name: 'v', help: 'h', labelNames: ['i'], registers: [registry] });
  for (let i = 0; i < lines; i++) gauge.set({ i: String(i) }, i);
  return registry;
}

/** Raw HTTP, to send what fetch() will not, and to see when the server hangs up. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

test('gzip when the client accepts it, plain otherwise', async (t) => {
  const endpoint = await serveMetrics(t, { registry: plainRegistry(200) });
  const zipped = await new Promise<http.IncomingMessage & { body: Buffer }>((resolve, reject) => {
    http
      .get(`${endpoint.base}/metrics`, { headers: { 'accept-encoding': 'gzip' } }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve(Object.assign(response, { body: Buffer.concat(chunks) })));
      })
      .on('error', reject);
  });
  assert.equal(zipped.headers['content-encoding'], 'gzip');
  assert.equal(zipped.headers.vary, 'Accept-Encoding');
  assert.equal(Number(zipped.headers['content-length']), zipped.body.length);
  assert.match(gunzipSync(zipped.body).toString(), /^v\{i="199"\} 199$/m);

  const plain = await rawRequest(
    endpoint.port,
    'GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip;q=0, identity\r\nConnection: close\r\n\r\n',
  );
  assert.doesNotMatch(plain, /content-encoding/i);
  assert.match(plain, /^v\{i="199"\} 199$/m);
});

test('Accept-Encoding: gzip, x-gzip, * and q-values', () => {
  assert.equal(acceptsGzip('gzip'), true);
  assert.equal(acceptsGzip('deflate, gzip;q=0.5'), true);
  assert.equal(acceptsGzip('*'), true);
  assert.equal(acceptsGzip('*, gzip;q=0'), false);
  assert.equal(acceptsGzip('gzip;q=0'), false);
  assert.equal(acceptsGzip('identity'), false);
  assert.equal(acceptsGzip(undefined), false);
  assert.equal(acceptsGzip('gzip;q=nonsense'), false);
});

test('a request body is refused with 413 and the connection closed, unread', async (t) => {
  const endpoint = await serveMetrics(t, { registry: plainRegistry() });
  const answer = await rawRequest(
    endpoint.port,
    // Announces a megabyte but sends a few bytes: the server must not wait for the rest.
    'GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\nabc',
  );
  assert.match(answer, /^HTTP\/1\.1 413 /);
  assert.match(answer, /connection: close/i);
  const chunked = await rawRequest(
    endpoint.port,
    'GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n',
  );
  assert.match(chunked, /^HTTP\/1\.1 413 /);
});

test('concurrent scrapes share one collection; above the cap they get 503 at once', async (t) => {
  const gated = gatedRegistry();
  const endpoint = await serveMetrics(t, {
    registry: gated.registry,
    ...{ limits: { maxConcurrentRequests: 5 } },
  });
  // Listeners run in order: the server's own has taken each request counted here.
  let received = 0;
  endpoint.server.on('request', () => received++);
  const waiting = Array.from({ length: 5 }, () => fetch(`${endpoint.base}/metrics`));
  // The sixth arrives while five are answered.
  await waitFor(() => received === 5, 60_000, 'the five scrapes to reach the server');
  const extra = await fetch(`${endpoint.base}/metrics`);
  assert.equal(extra.status, 503);
  assert.equal(extra.headers.get('retry-after'), '1');
  gated.release();
  for (const response of await Promise.all(waiting)) {
    assert.equal(response.status, 200);
    assert.match(await response.text(), /^gated_value 1$/m);
  }
  assert.equal(gated.collections(), 1, 'five scrapes, one collection');
  assert.equal((await fetch(`${endpoint.base}/metrics`)).status, 200, 'the cap frees up');
});

test('rate_limit: a burst passes, then 429 until the bucket refills', async (t) => {
  const web: WebConfig = {
    file: 'w.yml',
    users: new Map(),
    headers: { 'X-Content-Type-Options': 'nosniff' },
    rateLimit: { intervalMs: 60_000, burst: 2 },
  };
  const endpoint = await serveMetrics(t, { registry: plainRegistry(), web });
  const statuses = [];
  for (let i = 0; i < 3; i++) {
    const response = await fetch(`${endpoint.base}/metrics`);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff', 'on every answer');
    statuses.push(response.status);
  }
  assert.deepEqual(statuses, [200, 200, 429]);
});

test('a client that sends its headers too slowly, or nothing, is disconnected', async (t) => {
  const endpoint = await serveMetrics(t, {
    registry: plainRegistry(),
    limits: { headersTimeoutMs: 300, checkIntervalMs: 100 },
  });
  const closedAfterMs = (drip: boolean) =>
    new Promise<number>((resolve) => {
      const started = Date.now();
      const socket = net.connect(endpoint.port, '127.0.0.1');
      const timer = drip ? setInterval(() => socket.write('X-Slow: 1\r\n'), 50) : undefined;
      if (drip) socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
      socket.resume();
      socket.on('close', () => {
        clearInterval(timer);
        resolve(Date.now() - started);
      });
      socket.on('error', () => undefined);
    });
  // Generous: the point is that they are closed at all, not when exactly.
  const [slow, silent] = await Promise.all([closedAfterMs(true), closedAfterMs(false)]);
  assert.ok(slow < 10_000, `slowloris closed after ${slow} ms`);
  assert.ok(silent < 10_000, `silent connection closed after ${silent} ms`);
  assert.equal((await fetch(`${endpoint.base}/metrics`)).status, 200);
});

test('oversized headers are refused with 431', async (t) => {
  const endpoint = await serveMetrics(t, { registry: plainRegistry() });
  const answer = await rawRequest(
    endpoint.port,
    `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
  );
  assert.match(answer, /^HTTP\/1\.1 431 /);
});

test('CONNECT and methods HTTP does not know get 405 with Allow, then the connection closes', async (t) => {
  const endpoint = await serveMetrics(t, { registry: plainRegistry() });
  for (const line of ['CONNECT example.org:443 HTTP/1.1', 'FOO /metrics HTTP/1.1']) {
    const answer = await rawRequest(endpoint.port, `${line}\r\nHost: x\r\n\r\n`);
    assert.match(answer, /^HTTP\/1\.1 405 Method Not Allowed\r\n/, line);
    assert.match(answer, /\r\nAllow: GET, HEAD\r\n/, line);
  }
  // Other requests that cannot be parsed are still 400.
  assert.match(await rawRequest(endpoint.port, 'GET /metrics HTTP/9\r\n\r\n'), /^HTTP\/1\.1 400 /);
});
