/**
 * One side of a round of bench/http/run.ts, run inside its namespace: the
 * scraper, or an attacker, against the exporter on loopback, for a bounded
 * time with a bounded number of connections.
 *
 *   load.ts PORT ROLE SECONDS USER PASSWORD
 *
 * ROLE: scraper | idle (one address holds up to 2,000 idle connections,
 * reopening each one the server closes a second later) | wrong-password (64
 * clients in a loop, each with a new random password) | unauthenticated (64
 * clients in a loop, no credentials, to a path that does not exist).
 * The scraper scrapes /metrics from another address (127.0.0.2) as
 * Prometheus does (one kept-alive connection, 10 scrapes a second). Each
 * prints one JSON line: the scraper its latencies and answers, an attacker
 * its answers. The scraper prints "connected" first, once its connection is
 * open and its credentials verified.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';

const [portText = '9318', role = 'scraper', secondsText = '10', user = '', password = ''] =
  process.argv.slice(2);
const port = Number(portText);
const until = Date.now() + Number(secondsText) * 1000;
const SCRAPE_TIMEOUT_MS = 10_000;
const IDLE_CONNECTIONS = 2_000;
const FLOOD_CLIENTS = 64;

const basic = (name: string, secret: string) =>
  `Basic ${Buffer.from(`${name}:${secret}`).toString('base64')}`;

function request(
  agent: http.Agent | false,
  path: string,
  headers: http.OutgoingHttpHeaders,
  localAddress?: string,
): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(
      { host: '127.0.0.1', port, path, agent, headers, localAddress, timeout: SCRAPE_TIMEOUT_MS },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
        response.on('error', () => resolve(0));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

async function scraper(): Promise<{ latenciesMs: number[]; statuses: Record<string, number> }> {
  const latenciesMs: number[] = [];
  const statuses: Record<string, number> = {};
  const authorization = basic(user, password);
  while (Date.now() < until) {
    const started = performance.now();
    const status = await request(agent, '/metrics', { authorization }, '127.0.0.2');
    latenciesMs.push(performance.now() - started);
    statuses[status] = (statuses[status] ?? 0) + 1;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  agent.destroy();
  return { latenciesMs, statuses };
}

/** Holds up to IDLE_CONNECTIONS connections from 127.0.0.1, reopening each one closed. */
async function idleFlood(answers: Record<string, number>): Promise<void> {
  const sockets = new Set<net.Socket>();
  const open = () => {
    if (Date.now() >= until) return;
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.1' });
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.resume();
    socket.once('close', () => {
      sockets.delete(socket);
      answers.closed = (answers.closed ?? 0) + 1;
      setTimeout(open, 1000);
    });
  };
  for (let i = 0; i < IDLE_CONNECTIONS; i++) open();
  await new Promise((resolve) => setTimeout(resolve, until - Date.now()));
  for (const socket of sockets) socket.destroy();
}

async function flood(
  answers: Record<string, number>,
  path: string,
  headers: () => http.OutgoingHttpHeaders,
): Promise<void> {
  await Promise.all(
    Array.from({ length: FLOOD_CLIENTS }, async () => {
      while (Date.now() < until) {
        const status = await request(false, path, headers(), '127.0.0.1');
        answers[status] = (answers[status] ?? 0) + 1;
      }
    }),
  );
}

async function attacker(): Promise<Record<string, number>> {
  const answers: Record<string, number> = {};
  if (role === 'idle') await idleFlood(answers);
  else if (role === 'wrong-password') {
    await flood(answers, '/metrics', () => ({
      authorization: basic(user, randomBytes(9).toString('base64')),
    }));
  } else if (role === 'unauthenticated') await flood(answers, '/nope', () => ({}));
  return answers;
}

void (async () => {
  if (role === 'scraper') {
    // Its connection is open and its credentials verified before the
    // attack, as those of a Prometheus that has been scraping for a while.
    await request(agent, '/metrics', { authorization: basic(user, password) }, '127.0.0.2');
    process.stdout.write('connected\n');
    process.stdout.write(`${JSON.stringify(await scraper())}\n`);
  } else {
    process.stdout.write(`${JSON.stringify(await attacker())}\n`);
  }
  process.exit(0);
})();
