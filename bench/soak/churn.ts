/**
 * Connection churn for the soak benchmark and the fault tests, run inside a
 * test namespace: a loopback server, and clients that connect, exchange a
 * byte and go away at RATE connections a second, half with FIN (leaving
 * TIME_WAIT entries) and half with RST (CLOSE entries).
 *
 *   churn RATE SECONDS [ADDRESS]
 *
 * SECONDS 0 runs until stdin closes. Prints one JSON line at the end:
 *   {"opened":N,"failed":N,"seconds":S}
 */
import net from 'node:net';

const [rateText = '100', secondsText = '10', address = '127.0.0.1'] = process.argv.slice(2);
const rate = Number(rateText);
const seconds = Number(secondsText);
const TICK_MS = 10;
// A stalled server must not make the client pile up sockets without bound.
const MAX_IN_FLIGHT = 1000;

let opened = 0;
let failed = 0;
let inFlight = 0;
let owed = 0;

const server = net.createServer((socket) => {
  socket.on('error', () => undefined);
  socket.once('data', () => socket.end('y'));
});

function connectOnce(port: number): void {
  inFlight++;
  const reset = opened % 2 === 1;
  opened++;
  const socket = net.connect(port, address, () => socket.write('x'));
  socket.once('data', () => {
    if (reset) socket.resetAndDestroy();
    else socket.end();
  });
  socket.on('error', () => failed++);
  socket.once('close', () => inFlight--);
}

server.listen(0, address, () => {
  const { port } = server.address() as net.AddressInfo;
  const started = Date.now();
  const timer = setInterval(() => {
    owed += (rate * TICK_MS) / 1000;
    for (; owed >= 1 && inFlight < MAX_IN_FLIGHT; owed--) connectOnce(port);
  }, TICK_MS);
  const finish = () => {
    clearInterval(timer);
    process.stdout.write(
      `${JSON.stringify({ opened, failed, seconds: (Date.now() - started) / 1000 })}\n`,
    );
    process.exit(0);
  };
  if (seconds > 0) setTimeout(finish, seconds * 1000);
  process.stdin.on('end', finish).resume();
  process.once('SIGTERM', finish);
});
