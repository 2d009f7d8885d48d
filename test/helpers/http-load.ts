/**
 * A hostile-ish HTTP client, run inside a test namespace: holds idle and
 * slowloris connections open, then scrapes in parallel while they are held.
 *
 *   http-load HOST PORT IDLE PARALLEL ROUNDS
 *
 * Half of the IDLE connections send nothing, half send one header line a
 * second and never finish. They come from 20 loopback addresses and the
 * scrapes from 2 others, each below the server's limit per client address
 * (32), as many clients would. Prints one JSON line per phase:
 *   {"phase":"holding","open":N}
 *   {"phase":"scraped","statuses":{"200":N},"failures":N,"successMetric":N}
 *   {"phase":"dropped","closedByServer":N,"seconds":S}
 * and exits when every idle connection was closed by the server, or after
 * 120 s (then "closedByServer" tells how many were).
 */
import http from 'node:http';
import net from 'node:net';

const [
  host = '127.0.0.1',
  portText = '9318',
  idleText = '0',
  parallelText = '1',
  roundsText = '1',
] = process.argv.slice(2);
const port = Number(portText);
const GIVE_UP_MS = 120_000;

function print(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function holdIdle(count: number): Promise<{ closed: Promise<number> }> {
  let closed = 0;
  let allClosed: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allClosed = resolve));
  const opened = Array.from(
    { length: count },
    (_, i) =>
      new Promise<void>((resolve) => {
        const socket = net.connect({ port, host, localAddress: `127.0.1.${(i % 20) + 1}` }, () => {
          if (i % 2 === 1) {
            socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
            const drip = setInterval(() => socket.write(`X-Slow-${i}: 1\r\n`), 1000);
            socket.once('close', () => clearInterval(drip));
          }
          resolve();
        });
        socket.resume();
        socket.on('error', () => undefined);
        socket.once('close', () => {
          closed++;
          if (closed === count) allClosed();
        });
      }),
  );
  await Promise.all(opened);
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, GIVE_UP_MS).unref());
  return { closed: Promise.race([done, timeout]).then(() => closed) };
}

function scrape(_: unknown, i: number): Promise<{ status: number | string; body: string }> {
  return new Promise((resolve) => {
    const localAddress = `127.0.2.${(i % 2) + 1}`;
    const request = http.get(
      { host, port, path: '/metrics', agent: false, localAddress },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    request.setTimeout(30_000, () => request.destroy(new Error('timeout')));
    request.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ status: error.code ?? error.message, body: '' }),
    );
  });
}

async function main(): Promise<void> {
  const started = Date.now();
  const idle = await holdIdle(Number(idleText));
  print({ phase: 'holding', open: Number(idleText) });
  const statuses: Record<string, number> = {};
  let successMetric = 0;
  for (let round = 0; round < Number(roundsText); round++) {
    const results = await Promise.all(Array.from({ length: Number(parallelText) }, scrape));
    for (const { status, body } of results) {
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (/^conntrack_exporter_scrape_collector_success\{collector="conntrack"\} 1$/m.test(body)) {
        successMetric++;
      }
    }
  }
  print({ phase: 'scraped', statuses, successMetric });
  const closedByServer = await idle.closed;
  print({ phase: 'dropped', closedByServer, seconds: (Date.now() - started) / 1000 });
  process.exit(0);
}

void main();
