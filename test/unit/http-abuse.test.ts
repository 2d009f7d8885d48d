/**
 * What one client, or many with wrong passwords, cannot take from the
 * others: bcrypt time, request slots, connections, the rate limit.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import test, { TestContext } from 'node:test';

import bcrypt from 'bcryptjs';
import { Registry } from 'prom-client';

import { BasicAuth, CheckBudget, decoyHash } from '../../src/http/basic-auth';
import { RequestLimits } from '../../src/http/limits';
import { parseWebConfig as parseSpec, WebConfig } from '../../src/http/web-config';
import {
  basicAuth as header,
  connectionsFrom,
  serveMetrics,
  ServedMetrics,
} from '../helpers/metrics-server';
import { waitFor } from '../helpers/netns';

/** A web config without TLS, from its text. */
const parseWebConfig = (text: string, file: string): WebConfig => ({
  ...parseSpec(text, file),
  tls: undefined,
});

const HASH = bcrypt.hashSync('s3cret', 4);

function serve(
  t: TestContext,
  web: WebConfig | undefined,
  limits: Partial<RequestLimits> = {},
  checkBudget?: CheckBudget,
): Promise<ServedMetrics> {
  return serveMetrics(t, { registry: new Registry(), web, limits, checkBudget });
}

function get(
  port: number,
  path: string,
  { authorization, from }: { authorization?: string; from?: string } = {},
): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(
        {
          host: '127.0.0.1',
          port,
          path,
          agent: false,
          localAddress: from,
          headers: authorization === undefined ? {} : { authorization },
        },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      )
      .on('error', reject);
  });
}

test('unverified passwords wait for bcrypt only a few at once, one per client address', async () => {
  const auth = new BasicAuth(new Map([['prometheus', HASH]]), {
    maxPending: 2,
    maxPendingPerClient: 1,
  });
  assert.equal(await auth.check(header('prometheus', 's3cret'), 'scraper'), 'ok');
  const first = auth.check(header('prometheus', 'wrong1'), 'a');
  assert.equal(await auth.check(header('prometheus', 'wrong2'), 'a'), 'busy', 'one per client');
  const second = auth.check(header('prometheus', 'wrong3'), 'b');
  assert.equal(await auth.check(header('prometheus', 'wrong4'), 'c'), 'busy', 'two in all');
  // Verified credentials are answered at once, from any address, meanwhile.
  assert.ok(auth.verified(header('prometheus', 's3cret')));
  assert.equal(await auth.check(header('prometheus', 's3cret'), 'c'), 'ok');
  assert.deepEqual(await Promise.all([first, second]), ['denied', 'denied']);
  assert.equal(await auth.check(header('prometheus', 'wrong4'), 'c'), 'denied');
});

test('a stream of wrong passwords does not push verified credentials out', async () => {
  const auth = new BasicAuth(new Map([['prometheus', HASH]]), {
    maxPending: 1000,
    maxPendingPerClient: 1000,
  });
  assert.equal(await auth.check(header('prometheus', 's3cret')), 'ok');
  await Promise.all(
    Array.from({ length: 300 }, (_, i) => auth.check(header('prometheus', `wrong${i}`))),
  );
  assert.ok(auth.verified(header('prometheus', 's3cret')));
});

test('the decoy for unknown users costs what the configured hashes cost', () => {
  const at = (cost: number) => `$2y$${String(cost).padStart(2, '0')}$${HASH.slice(7)}`;
  assert.equal(bcrypt.getRounds(decoyHash(new Map([['a', at(12)]]))), 12);
  assert.equal(bcrypt.getRounds(decoyHash(new Map([['a', at(4)]]))), 4);
  assert.equal(
    bcrypt.getRounds(
      decoyHash(
        new Map([
          ['a', at(12)],
          ['b', at(11)],
          ['c', at(11)],
        ]),
      ),
    ),
    11,
  );
});

test('a wrong-password flood gets 503 beyond the budget, the scraper 200', async (t) => {
  // Cost 12: bcryptjs works in slices of up to 100 ms between which the
  // server takes new requests, and a cost-12 check needs several slices on
  // any machine, so the flood's checks overlap (at cost 10 an idle machine
  // can finish each check in one slice, one after another, never busy).
  const hash = bcrypt.hashSync('s3cret', 12);
  const web = parseWebConfig(`basic_auth_users:\n  prometheus: ${hash}\n`, 'web.yml');
  const { port } = await serve(t, web, {}, { maxPending: 1, maxPendingPerClient: 1 });
  const good = header('prometheus', 's3cret');
  assert.equal(await get(port, '/metrics', { authorization: good, from: '127.0.0.2' }), 200);
  const flood = Array.from({ length: 20 }, (_, i) =>
    get(port, '/metrics', { authorization: header('prometheus', `x${i}`) }),
  );
  assert.equal(await get(port, '/metrics', { authorization: good, from: '127.0.0.2' }), 200);
  const answers = await Promise.all(flood);
  assert.ok(answers.includes(503), String(answers));
  assert.ok(
    answers.every((status) => status === 401 || status === 503),
    String(answers),
  );
});

test('one client address holds at most max_connections_per_client connections', async (t) => {
  const { server, port } = await serve(t, undefined, { maxConnectionsPerClient: 3 });
  const held = connectionsFrom(server);
  const open = (from: string) =>
    new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1', localAddress: from }, () =>
        resolve(socket),
      );
      socket.on('error', reject);
    });
  const closed = (socket: net.Socket) =>
    new Promise<void>((resolve) => {
      if (socket.destroyed) resolve();
      else socket.once('close', () => resolve());
    });
  const clients = await Promise.all([1, 2, 3].map(() => open('127.0.0.1')));
  t.after(() => clients.forEach((socket) => socket.destroy()));
  const fourth = await open('127.0.0.1');
  fourth.resume();
  await closed(fourth);
  // Another address is not held up.
  assert.equal(await get(port, '/metrics', { from: '127.0.0.2' }), 200);
  // A slot given back is free again.
  clients.pop()?.destroy();
  await waitFor(() => held('127.0.0.1') === 2, 10_000, 'the server to see the close');
  assert.equal(await get(port, '/metrics', { from: '127.0.0.1' }), 200);
});

test('the web config sets the limit per client', async (t) => {
  const web = parseWebConfig('limits:\n  max_connections_per_client: 1\n', 'web.yml');
  assert.equal(web.maxConnectionsPerClient, 1);
  assert.throws(
    () => parseWebConfig('limits:\n  max_connections_per_client: 0\n', 'web.yml'),
    /max_connections_per_client.*at least 1/,
  );
  const { server, port } = await serve(t, web);
  const held = connectionsFrom(server);
  const socket = net.connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  await new Promise((resolve) => socket.once('connect', resolve));
  await assert.rejects(get(port, '/metrics'), /socket hang up|ECONNRESET/);
  socket.destroy();
  await waitFor(() => held('127.0.0.1') === 0, 10_000, 'the server to see the close');
  assert.equal(await get(port, '/metrics'), 200);
});

test('unauthenticated requests cannot spend the rate limit of authenticated ones', async (t) => {
  const web = parseWebConfig(
    `basic_auth_users:\n  prometheus: ${HASH}\nrate_limit:\n  interval: 1h\n  burst: 5\n`,
    'web.yml',
  );
  const { port } = await serve(t, web);
  const good = header('prometheus', 's3cret');
  // The first check of the password is not verified yet: the other bucket pays.
  assert.equal(await get(port, '/metrics', { authorization: good }), 200);
  const flood = [];
  for (let i = 0; i < 10; i++) flood.push(await get(port, '/nope'));
  assert.deepEqual(flood, [401, 401, 401, 401, 429, 429, 429, 429, 429, 429]);
  const scrapes = [];
  for (let i = 0; i < 6; i++) scrapes.push(await get(port, '/metrics', { authorization: good }));
  // exporter-toolkit's meaning stays: a burst of 5, then 429.
  assert.deepEqual(scrapes, [200, 200, 200, 200, 200, 429]);
});
