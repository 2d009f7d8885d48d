/**
 * Basic auth with bcrypt hashes, TLS with every client_auth_type that
 * matters, and a reload of both, against a real HTTPS server on loopback.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'node:test';

import bcrypt from 'bcryptjs';

import { BasicAuth, parseBasic } from '../../src/http/basic-auth';
import { reloadOnSignal } from '../../src/http/reload';
import { createMetricsServer, reloadWebConfig } from '../../src/http/server';
import { TlsSettings } from '../../src/http/tls-options';
import { loadWebConfig, WebConfig } from '../../src/http/web-config';
import { Logger } from '../../src/log';
import { makeCertificates, TestCertificates } from '../helpers/certificates';
import { basicAuth, exampleRegistry, serveMetrics } from '../helpers/metrics-server';

const users = (password: string) => new Map([['prometheus', bcrypt.hashSync(password, 4)]]);

/** GET over HTTPS; the status, or the error's code when the handshake or connection failed. */
function get(
  port: number,
  options: https.RequestOptions & { path?: string } = {},
): Promise<number | string> {
  return new Promise((resolve) => {
    const request = https.get(
      { host: '127.0.0.1', port, path: '/metrics', agent: false, ...options },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
        response.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

function tlsWeb(certs: TestCertificates, tls: Partial<TlsSettings> = {}): WebConfig {
  return {
    file: 'web.yml',
    users: new Map(),
    headers: {},
    tls: {
      cert: certs.server.cert,
      key: certs.server.key,
      clientAuth: 'NoClientCert',
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.3',
      preferServerCipherSuites: true,
      ...tls,
    },
  };
}

let certs: TestCertificates;
test.before(async () => {
  certs = await makeCertificates();
});
test.after(() => certs.remove());

test('basic auth: 401 with a challenge unless the password is right, on every path', async (t) => {
  const { port } = await serveMetrics(t, {
    web: {
      ...tlsWeb(certs),
      users: users('s3cret'),
    },
  });
  const ca = certs.ca;
  const as = (user: string, password: string) => ({
    ca,
    headers: { authorization: basicAuth(user, password) },
  });
  assert.equal(await get(port, { ca }), 401);
  assert.equal(await get(port, as('prometheus', 'wrong')), 401);
  assert.equal(await get(port, as('nobody', 's3cret')), 401);
  assert.equal(await get(port, { ...as('prometheus', 'wrong'), path: '/' }), 401);
  assert.equal(await get(port, { ...as('prometheus', 's3cret'), path: '/nowhere' }), 404);
  assert.equal(await get(port, as('prometheus', 's3cret')), 200);
  assert.equal(await get(port, as('prometheus', 's3cret')), 200, 'from the cache');
  const challenge = await new Promise<string | undefined>((resolve) =>
    https.get({ host: '127.0.0.1', port, path: '/metrics', ca, agent: false }, (response) => {
      response.resume();
      resolve(response.headers['www-authenticate']);
    }),
  );
  assert.match(String(challenge), /^Basic realm=/);
});

test('bcrypt runs once for a burst of identical checks, and once per distinct password', async () => {
  const auth = new BasicAuth(users('s3cret'));
  const original = bcrypt.compare;
  let runs = 0;
  bcrypt.compare = ((password: string, hash: string) => {
    runs++;
    return original(password, hash);
  }) as typeof bcrypt.compare;
  try {
    const header = (password: string) => basicAuth('prometheus', password);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => auth.check(header('s3cret'))),
    );
    assert.ok(results.every((result) => result === 'ok'));
    assert.equal(runs, 1);
    assert.equal(await auth.check(header('wrong')), 'denied');
    assert.equal(await auth.check(header('wrong')), 'denied', 'a recent failure, remembered');
    assert.equal(runs, 2);
    assert.equal(await auth.check('Bearer abc'), 'denied');
    assert.equal(runs, 2, 'nothing to compare');
  } finally {
    bcrypt.compare = original;
  }
});

test('Authorization headers that are not Basic user:password', () => {
  assert.deepEqual(parseBasic(`Basic ${Buffer.from('a:b:c').toString('base64')}`), {
    user: 'a',
    password: 'b:c',
  });
  assert.equal(parseBasic(`Basic ${Buffer.from('nocolon').toString('base64')}`), undefined);
  assert.equal(parseBasic('Basic'), undefined);
  assert.equal(parseBasic('Digest x'), undefined);
  assert.equal(parseBasic(undefined), undefined);
  assert.equal(parseBasic('Basic !!!'), undefined);
});

test('TLS: served with the test certificate; plain HTTP is not', async (t) => {
  const { port } = await serveMetrics(t, { web: tlsWeb(certs) });
  assert.equal(await get(port, { ca: certs.ca }), 200);
  assert.equal(
    await get(port),
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'an unknown CA is refused by the client',
  );
  const plain = await fetch(`http://127.0.0.1:${port}/metrics`).catch((error: Error) => error);
  assert.ok(plain instanceof Error, 'no answer to plain HTTP');
});

test('RequireAndVerifyClientCert: only a client certificate from the CA gets in', async (t) => {
  const { port } = await serveMetrics(t, {
    web: tlsWeb(certs, { clientAuth: 'RequireAndVerifyClientCert', clientCa: certs.ca }),
  });
  const ca = certs.ca;
  assert.equal(await get(port, { ca, cert: certs.client.cert, key: certs.client.key }), 200);
  assert.notEqual(await get(port, { ca }), 200);
  assert.notEqual(
    await get(port, { ca, cert: certs.rogueClient.cert, key: certs.rogueClient.key }),
    200,
  );
});

test('client_allowed_sans and RequireAnyClientCert: names are checked, the CA is not', async (t) => {
  const { server, port } = await serveMetrics(t, {
    web: tlsWeb(certs, {
      clientAuth: 'RequireAnyClientCert',
      clientAllowedSans: ['scraper.example'],
    }),
  });
  const ca = certs.ca;
  assert.equal(
    await get(port, { ca, cert: certs.rogueClient.cert, key: certs.rogueClient.key }),
    200,
  );
  assert.notEqual(await get(port, { ca }), 200);
  reloadWebConfig(
    server,
    tlsWeb(certs, { clientAuth: 'RequireAnyClientCert', clientAllowedSans: ['other.example'] }),
  );
  assert.notEqual(await get(port, { ca, cert: certs.client.cert, key: certs.client.key }), 200);
});

test('VerifyClientCertIfGiven: no certificate is fine, an untrusted one is not', async (t) => {
  const { port } = await serveMetrics(t, {
    web: tlsWeb(certs, { clientAuth: 'VerifyClientCertIfGiven', clientCa: certs.ca }),
  });
  const ca = certs.ca;
  assert.equal(await get(port, { ca }), 200);
  assert.equal(await get(port, { ca, cert: certs.client.cert, key: certs.client.key }), 200);
  assert.notEqual(
    await get(port, { ca, cert: certs.rogueClient.cert, key: certs.rogueClient.key }),
    200,
  );
});

test('reload: new users apply at once; switching TLS or client auth is refused', async (t) => {
  const { server, port } = await serveMetrics(t, {
    web: { ...tlsWeb(certs), users: users('old') },
  });
  const as = (password: string) => ({
    ca: certs.ca,
    headers: { authorization: basicAuth('prometheus', password) },
  });
  assert.equal(await get(port, as('old')), 200);
  reloadWebConfig(server, { ...tlsWeb(certs), users: users('new') });
  assert.equal(await get(port, as('old')), 401);
  assert.equal(await get(port, as('new')), 200);
  assert.throws(
    () => reloadWebConfig(server, { file: 'web.yml', users: new Map(), headers: {} }),
    /web\.yml: switching TLS on or off needs a restart/,
  );
  assert.throws(
    () => reloadWebConfig(server, tlsWeb(certs, { clientAuth: 'RequireAnyClientCert' })),
    /client_auth_type needs a restart/,
  );
  assert.equal(await get(port, as('new')), 200, 'the refused reloads changed nothing');
});

test('SIGHUP: a web config without users, after one with users, says basic auth is off', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'web-reload-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'web.yml');
  const lines: string[] = [];
  const log: Logger = {
    debug: () => undefined,
    info: (line) => lines.push(`info ${line}`),
    warn: (line) => lines.push(`warn ${line}`),
    error: (line) => lines.push(`error ${line}`),
  };
  const hash = bcrypt.hashSync('secret', 4);
  await writeFile(file, `basic_auth_users:\n  prometheus: ${hash}\n`);
  const server = createMetricsServer({
    registry: exampleRegistry(),
    path: '/metrics',
    title: 't',
    web: loadWebConfig(file),
  });
  reloadOnSignal(server, file, log);
  assert.deepEqual(
    lines.filter((line) => line.startsWith('warn')),
    [],
  );
  await writeFile(file, 'rate_limit:\n  interval: 1s\n  burst: 5\n');
  reloadOnSignal(server, file, log);
  assert.deepEqual(
    lines.filter((line) => line.startsWith('warn')),
    [
      `warn SIGHUP: ${file} has no basic_auth_users: basic auth is now off, every client is served without a password`,
    ],
  );
  // Off already: nothing more to say.
  reloadOnSignal(server, file, log);
  assert.equal(lines.filter((line) => line.startsWith('warn')).length, 1);
});
