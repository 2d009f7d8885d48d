/**
 * The metrics server hands a body back to the Exposition once no response
 * reads it, and the next scrape writes into that memory. A body recycled too
 * early would reach a slow client half overwritten: every scrape here writes
 * its own number on every line, so a mixed body shows.
 */
import assert from 'node:assert/strict';
import net, { AddressInfo } from 'node:net';
import test from 'node:test';
import { gunzipSync } from 'node:zlib';

import { Registry } from 'prom-client';

import { Exposition } from '../../src/collectors/exposition';
import { familyHeader, TextCollector } from '../../src/collectors/text-format';
import { createMetricsServer, listen } from '../../src/http/server';

const LINES = 20_000; // ~600 KB: more than a socket buffer holds

/** A family whose every sample is the number of the scrape. */
function numberedScrapes(): { collector: TextCollector; recycled: () => number } {
  let scrape = 0;
  const name = Buffer.from('example_scrape');
  const labels: Buffer[] = [];
  for (let i = 0; i < LINES; i++) labels.push(Buffer.from(`{line="${i}"}`));
  return {
    recycled: () => scrape,
    collector: {
      async collect() {
        const value = ++scrape;
        return {
          expectedBytes: LINES * 40 + 100,
          write(out) {
            out.text(familyHeader('example_scrape', 'The scrape.', 'gauge'));
            for (const line of labels) out.sample(name, line, value);
          },
        };
      },
    },
  };
}

/** The scrape number of a body; fails unless every line carries the same. */
function scrapeOf(body: string): number {
  const values = new Set(
    body
      .split('\n')
      .filter((line) => line.startsWith('example_scrape{'))
      .map((line) => line.slice(line.lastIndexOf(' ') + 1)),
  );
  assert.equal(body.split('\n').filter((l) => l.startsWith('example_scrape{')).length, LINES);
  assert.equal(values.size, 1, `one body holds scrapes ${[...values].slice(0, 5).join(', ')}`);
  return Number([...values][0]);
}

/**
 * A raw HTTP/1.1 GET; `hold`, if given, runs at the first bytes of the
 * answer, and the rest is read only once it resolves.
 */
function get(
  port: number,
  { gzip = false, hold }: { gzip?: boolean; hold?: () => Promise<void> } = {},
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let held = false;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (hold !== undefined && !held) {
        held = true;
        socket.pause();
        void hold().then(() => socket.resume());
      }
    });
    socket.on('end', () => {
      const raw = Buffer.concat(chunks);
      const split = raw.indexOf('\r\n\r\n');
      const body = raw.subarray(split + 4);
      resolve(gzip ? gunzipSync(body) : body);
    });
    socket.on('error', reject);
    socket.write(
      `GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${gzip ? 'Accept-Encoding: gzip\r\n' : ''}\r\n`,
    );
  });
}

test('a recycled body never reaches a client still reading it: slow, gzip, and gone clients', async () => {
  const exposition = new Exposition(new Registry());
  const { collector, recycled } = numberedScrapes();
  exposition.add(collector);
  let recycles = 0;
  const recycle = exposition.recycle.bind(exposition);
  exposition.recycle = (body) => {
    recycles++;
    recycle(body);
  };
  const server = createMetricsServer({ registry: exposition, path: '/metrics', title: 't' });
  await listen(server, 0, '127.0.0.1');
  const port = (server.address() as AddressInfo).port;
  try {
    // A slow client: it stops reading at the first bytes of its answer
    // until every other scrape here is done.
    let slowReading!: () => void;
    const reading = new Promise<void>((resolve) => (slowReading = resolve));
    let releaseSlow!: () => void;
    const released = new Promise<void>((resolve) => (releaseSlow = resolve));
    const slow = get(port, {
      hold: () => {
        slowReading();
        return released;
      },
    });
    await reading;
    // Scrapes while the slow one waits: each would reuse its memory if it were handed back.
    const quick: Buffer[] = [];
    for (let i = 0; i < 10; i++) quick.push(await get(port, { gzip: i % 3 === 0 }));
    // A client that leaves mid-body.
    await new Promise<void>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
      });
      socket.once('data', () => {
        socket.destroy();
        resolve();
      });
    });
    releaseSlow();
    const bodies = await Promise.all([slow, ...quick, get(port), get(port)]);
    const numbers = bodies.map((body) => scrapeOf(body.toString()));
    // The slow one's body was not rendered again for any later scrape.
    assert.ok(!numbers.slice(1).includes(numbers[0]!), numbers.join());
    assert.ok(recycles > 0, 'bodies were handed back');
    assert.ok(recycled() >= numbers.length);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
