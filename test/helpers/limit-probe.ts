/**
 * Measures the HTTP server's limits from a client's side, run inside a test
 * namespace:
 *
 *   limit-probe connections HOST PORT COUNT [SOURCES]
 *     opens COUNT connections at once from SOURCES loopback addresses
 *     (127.0.3.1 and up, in turn; default 1) and sends nothing; prints
 *     {"quick":N,"late":N}: how many the server closed within 5 s of their
 *     opening (refused over the connection cap), and how many later (the
 *     headers timeout), once all are closed
 *   limit-probe keepalive HOST PORT
 *     one request on a kept-alive connection; prints {"seconds":S}, from the
 *     end of the answer until the server closed the connection
 *   limit-probe silent HOST PORT
 *     connects and sends nothing; prints {"seconds":S} until the server
 *     closed the connection
 *   limit-probe unread HOST PORT
 *     one request, of whose answer it reads a single byte, as a client that
 *     stopped reading; prints {"seconds":S} from the request until the
 *     server closed its side (it left ESTABLISHED in `ss`: the client cannot
 *     see a FIN queued behind data it never reads), or until 180 s
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { promisify } from 'node:util';

const [mode = '', host = '127.0.0.1', portText = '9318', countText = '1', sourcesText = '1'] =
  process.argv.slice(2);
const port = Number(portText);
const QUICK_MS = 5_000;
const UNREAD_GIVE_UP_MS = 180_000;

function print(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** Milliseconds from `from` until the server closes `socket`. */
function closedAfter(socket: net.Socket, from: () => number): Promise<number> {
  return new Promise((resolve) => {
    socket.on('error', () => undefined);
    socket.resume();
    socket.once('close', () => resolve(Date.now() - from()));
  });
}

async function connections(count: number, sources: number): Promise<void> {
  const lifetimes = await Promise.all(
    Array.from({ length: count }, (_, i) => {
      const localAddress = `127.0.3.${(i % sources) + 1}`;
      const socket = net.connect({ port, host, localAddress });
      let opened = Date.now();
      socket.once('connect', () => (opened = Date.now()));
      return closedAfter(socket, () => opened);
    }),
  );
  const quick = lifetimes.filter((ms) => ms < QUICK_MS).length;
  print({ quick, late: count - quick });
}

async function keepalive(): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let answered = 0;
  const closed = await new Promise<number>((resolve, reject) => {
    const request = http.get({ host, port, path: '/metrics', agent }, (response) => {
      response.resume();
      response.once('end', () => (answered = Date.now()));
    });
    request.once('socket', (socket) => void closedAfter(socket, () => answered).then(resolve));
    request.once('error', reject);
  });
  print({ seconds: closed / 1000 });
  agent.destroy();
}

async function silent(): Promise<void> {
  const socket = net.connect(port, host);
  let opened = Date.now();
  socket.once('connect', () => (opened = Date.now()));
  print({ seconds: (await closedAfter(socket, () => opened)) / 1000 });
}

/** Whether the server's side of the connection from `localPort` is still ESTABLISHED. */
async function serverHolds(localPort: number): Promise<boolean> {
  const { stdout } = await promisify(execFile)('ss', [
    ...['-Htn', 'state', 'established'],
    ...['sport', '=', `:${port}`, 'dport', '=', `:${localPort}`],
  ]);
  return stdout.trim() !== '';
}

async function unread(): Promise<void> {
  // Reads into a 1-byte buffer and stops at the first byte.
  const socket = net.connect({
    port,
    host,
    onread: { buffer: Buffer.alloc(1), callback: () => false },
  });
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(`GET /metrics HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  const sent = Date.now();
  // Never closing at all must fail the test, not hang it.
  while ((await serverHolds(socket.localPort!)) && Date.now() - sent < UNREAD_GIVE_UP_MS) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  print({ seconds: (Date.now() - sent) / 1000 });
  socket.destroy();
}

const modes: Record<string, () => Promise<void>> = {
  connections: () => connections(Number(countText), Number(sourcesText)),
  keepalive,
  silent,
  unread,
};
const run = modes[mode];
if (run === undefined) {
  process.stderr.write(`limit-probe: unknown mode ${mode}\n`);
  process.exit(2);
}
// A kept-alive socket waiting in the agent does not keep Node running.
setInterval(() => undefined, 1_000);
void run().then(() => process.exit(0));
