import assert from 'node:assert/strict';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import test from 'node:test';

import { Gauge, Registry } from 'prom-client';

import { EnvironmentError } from '../../src/errors';
import { createMetricsServer, listen } from '../../src/http/server';

async function withServer(
  registry: Registry,
  body: (base: string) => Promise<void>,
  settings: Record<string, unknown> = {
    'listen port': 1234,
    'ignored hosts': ['192.0.2.1', '<b>'],
  },
): Promise<void> {
  const server = createMetricsServer({
    registry,
    path: '/metrics',
    title: 'test exporter',
    settings,
  });
  await listen(server, 0, '127.0.0.1');
  try {
    await body(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

function registryWithOneGauge(): Registry {
  const registry = new Registry();
  new Gauge({ name: 'example_value', help: 'An example.', registers: [registry] }).set(3);
  return registry;
}

test('GET on the metrics path serves the text format', async () => {
  const registry = registryWithOneGauge();
  await withServer(registry, async (base) => {
    const response = await fetch(`${base}/metrics?x=1`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), registry.contentType);
    assert.match(await response.text(), /^example_value 3$/m);
  });
});

test('HEAD on the metrics path has the headers and no body', async () => {
  await withServer(registryWithOneGauge(), async (base) => {
    const response = await fetch(`${base}/metrics`, { method: 'HEAD' });
    assert.equal(response.status, 200);
    assert.ok(Number(response.headers.get('content-length')) > 0);
    assert.equal(await response.text(), '');
  });
});

test('the landing page links to the metrics and shows the settings, escaped', async () => {
  await withServer(registryWithOneGauge(), async (base) => {
    const response = await fetch(`${base}/`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /text\/html/);
    const page = await response.text();
    assert.match(page, /href="\/metrics"/);
    assert.match(page, /listen port<\/th><td>1234/);
    assert.match(page, /192\.0\.2\.1, &#60;b&#62;/);
  });
});

test('a setting given as a function shows what it returns at each request', async () => {
  let accounting = 'off';
  await withServer(
    registryWithOneGauge(),
    async (base) => {
      assert.match(await (await fetch(`${base}/`)).text(), /accounting<\/th><td>off</);
      accounting = 'on';
      assert.match(await (await fetch(`${base}/`)).text(), /accounting<\/th><td>on</);
    },
    { accounting: () => accounting },
  );
});

test('unknown paths are 404 and other methods 405', async () => {
  await withServer(registryWithOneGauge(), async (base) => {
    assert.equal((await fetch(`${base}/other`)).status, 404);
    assert.equal((await fetch(`${base}/metrics/`)).status, 404);
    const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    assert.equal((await fetch(`${base}/`, { method: 'DELETE' })).status, 405);
  });
});

test('a collector that throws gives a 500 with the reason, and the server stays up', async () => {
  const registry = new Registry();
  new Gauge({
    name: 'broken_value',
    help: 'Fails.',
    registers: [registry],
    collect() {
      throw new Error('table unreadable');
    },
  });
  await withServer(registry, async (base) => {
    const response = await fetch(`${base}/metrics`);
    assert.equal(response.status, 500);
    assert.match(await response.text(), /table unreadable/);
    assert.equal((await fetch(`${base}/`)).status, 200);
  });
});

test('a busy port is one clear error naming the flag', async () => {
  const blocker = http.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const { port } = blocker.address() as AddressInfo;
  try {
    const server = createMetricsServer({ registry: new Registry(), path: '/metrics', title: 't' });
    await assert.rejects(
      listen(server, port, '127.0.0.1'),
      (error: unknown) =>
        error instanceof EnvironmentError &&
        error.message ===
          `127.0.0.1:${port} is already in use; stop the other process or choose another port with --listen-port`,
    );
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
});

test('an address that is not on this host is one clear error', async () => {
  const server = createMetricsServer({ registry: new Registry(), path: '/metrics', title: 't' });
  await assert.rejects(listen(server, 0, '192.0.2.123'), /not on this host/);
});
