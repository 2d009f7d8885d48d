/**
 * A TCP actor: a small program run inside a network namespace that makes real
 * connections reach a chosen TCP state and holds them there, and the function
 * a test uses to drive it. Both halves live here so the line protocol between
 * them is defined once.
 *
 * Command line (run inside a namespace, e.g. by `startActor`):
 *   tcp-actor listen ADDRESS PORT [hold|close|echo]
 *   tcp-actor connect HOST PORT [COUNT] [hold|syn|timewait|closewait|reset]
 *
 * Output, one line each:
 *   listening ADDRESS PORT        (listen: PORT 0 picks a free port)
 *   socket LADDR LPORT RADDR RPORT (per connection made, attempted or accepted)
 *   ready                         (every connection reached its wanted state)
 *   ok COMMAND                    (a stdin command was carried out)
 *   stats LPORT SENT RECEIVED     (per connection, answering `stats`)
 *   error MESSAGE                 (fatal, before exit 1)
 *
 * Stdin commands, applied to every connection: `end` (send FIN), `reset`
 * (send RST), `send BYTES`, `stats`. End of stdin ends the actor, so it never
 * outlives the test process that started it.
 */
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { createInterface } from 'node:readline';
import type { Namespace } from './netns';

/** What a listener does with each accepted connection. */
export type ListenBehaviour = 'hold' | 'close' | 'echo';

/**
 * Where a client leaves its connections, as the client's side sees them:
 * - hold: ESTABLISHED
 * - syn: SYN sent, nothing back yet (the peer must drop it, see dropTcpPort)
 * - timewait: this side closed first, the peer closed too (TIME_WAIT)
 * - closewait: the peer closed, this side stays open (CLOSE_WAIT); needs a
 *   listener with behaviour `close`
 * - reset: connected, then aborted with RST
 */
export type ConnectOutcome = 'hold' | 'syn' | 'timewait' | 'closewait' | 'reset';

export type ActorSpec =
  | { mode: 'listen'; address: string; port: number; behaviour?: ListenBehaviour }
  | { mode: 'connect'; host: string; port: number; count?: number; outcome?: ConnectOutcome };

export interface SocketEnds {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

export interface SocketStats {
  localPort: number;
  sentBytes: number;
  receivedBytes: number;
}

export interface Actor {
  readonly process: ChildProcess;
  /** For a listener, the port it listens on; for a client, the port it connects to. */
  readonly port: number;
  /** Connections reported so far, in order. */
  readonly sockets: readonly SocketEnds[];
  /** Resolves once at least `count` connections were reported (accepted, for a listener). */
  waitForSockets(count: number, timeoutMs?: number): Promise<SocketEnds[]>;
  end(): Promise<void>;
  reset(): Promise<void>;
  /** Resolves once the bytes are handed to the kernel. */
  send(bytes: number): Promise<void>;
  stats(): Promise<SocketStats[]>;
  /** Closes stdin and waits for the actor to exit. */
  stop(): Promise<void>;
}

const ACTOR_TIMEOUT_MS = 10_000;

export function actorArgv(spec: ActorSpec): string[] {
  return spec.mode === 'listen'
    ? ['listen', spec.address, String(spec.port), spec.behaviour ?? 'hold']
    : ['connect', spec.host, String(spec.port), String(spec.count ?? 1), spec.outcome ?? 'hold'];
}

/**
 * Connects once from `ns` to a port where nothing listens, and resolves once
 * the connection was refused (a reset answered the SYN); rejects otherwise.
 */
export async function connectRefused(ns: Namespace, host: string, port: number): Promise<void> {
  const script =
    `require('net').connect({ host: ${JSON.stringify(host)}, port: ${port} })` +
    ".on('error', (e) => process.exit(e.code === 'ECONNREFUSED' ? 0 : 3))" +
    ".on('connect', () => process.exit(4));";
  const result = await ns.exec([process.execPath, '-e', script]);
  if (result.code !== 0) {
    throw new Error(
      `a connect to ${host}:${port} was not refused (exit ${result.code}): ${result.stderr}`,
    );
  }
}

/** Starts an actor inside `ns` and resolves when it printed `ready`. */
export async function startActor(
  ns: Namespace,
  spec: ActorSpec,
  timeoutMs = ACTOR_TIMEOUT_MS,
): Promise<Actor> {
  // tsx's CommonJS hook alone starts in half the time of `--import tsx`, and
  // the actor needs nothing else.
  const child = ns.spawn([
    process.execPath,
    '--require',
    require.resolve('tsx/cjs'),
    __filename,
    ...actorArgv(spec),
  ]);
  const driver = new ActorDriver(child, spec.port);
  await driver.waitForLine((line) => line === 'ready', timeoutMs, 'ready');
  return driver;
}

class ActorDriver implements Actor {
  readonly sockets: SocketEnds[] = [];
  private readonly lines: string[] = [];
  private readonly listeners = new Set<() => void>();
  private stderr = '';
  private exited = false;

  constructor(
    readonly process: ChildProcess,
    public port: number,
  ) {
    const { stdout, stderr } = this.process;
    if (stdout === null || stderr === null) throw new Error('tcp-actor needs piped stdio');
    createInterface({ input: stdout }).on('line', (line) => this.onLine(line));
    stderr.setEncoding('utf8');
    stderr.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-4096);
    });
    this.process.once('exit', () => {
      this.exited = true;
      this.notify();
    });
  }

  async waitForSockets(count: number, timeoutMs = ACTOR_TIMEOUT_MS): Promise<SocketEnds[]> {
    await this.waitUntil(() => this.sockets.length >= count, timeoutMs, `${count} sockets`);
    return [...this.sockets];
  }

  end(): Promise<void> {
    return this.command('end');
  }

  reset(): Promise<void> {
    return this.command('reset');
  }

  send(bytes: number): Promise<void> {
    return this.command(`send ${bytes}`);
  }

  async stats(): Promise<SocketStats[]> {
    const from = this.lines.length;
    await this.command('stats');
    return this.lines
      .slice(from)
      .filter((line) => line.startsWith('stats '))
      .map((line) => {
        const [, localPort, sentBytes, receivedBytes] = line.split(' ').map(Number);
        return {
          localPort: localPort ?? NaN,
          sentBytes: sentBytes ?? NaN,
          receivedBytes: receivedBytes ?? NaN,
        };
      });
  }

  async stop(): Promise<void> {
    this.process.stdin?.end();
    await this.waitUntil(() => this.exited, ACTOR_TIMEOUT_MS, 'exit');
  }

  async waitForLine(match: (line: string) => boolean, timeoutMs: number, what: string) {
    const from = this.lines.length;
    await this.waitUntil(() => this.lines.slice(from).some(match), timeoutMs, what);
  }

  private async command(command: string): Promise<void> {
    const done = this.waitForLine((line) => line === `ok ${command}`, ACTOR_TIMEOUT_MS, command);
    this.process.stdin?.write(`${command}\n`);
    await done;
  }

  private onLine(line: string): void {
    this.lines.push(line);
    const [kind, a, b, c, d] = line.split(' ');
    if (kind === 'listening') this.port = Number(b);
    if (kind === 'socket' && a !== undefined && c !== undefined) {
      this.sockets.push({
        localAddress: a,
        localPort: Number(b),
        remoteAddress: c,
        remotePort: Number(d),
      });
    }
    this.notify();
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }

  /** Fails early, with the actor's own words, when it reported an error or died. */
  private waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const finish = (error?: Error): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
        if (error === undefined) resolve();
        else reject(error);
      };
      const fail = (reason: string): Error =>
        new Error(`tcp-actor waiting for ${what}: ${reason}; stderr: ${this.stderr.trim()}`);
      const check = (): void => {
        const error = this.lines.find((line) => line.startsWith('error '));
        if (condition()) finish();
        else if (error !== undefined) finish(fail(error));
        else if (this.exited) finish(fail(`exited (${this.process.exitCode})`));
      };
      const timer = setTimeout(() => finish(fail(`timeout after ${timeoutMs} ms`)), timeoutMs);
      this.listeners.add(check);
      check();
    });
  }
}

// ---- The program, run inside a namespace ----

interface Tracked {
  socket: net.Socket;
  localPort: number;
  sentBytes: number;
  receivedBytes: number;
}

const tracked: Tracked[] = [];

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function die(message: string): never {
  say(`error ${message}`);
  process.exit(1);
}

/** `peer` stands in for the remote end while a connection is still opening. */
function track(socket: net.Socket, peer?: { host: string; port: number }): void {
  const entry = { socket, localPort: socket.localPort ?? 0, sentBytes: 0, receivedBytes: 0 };
  tracked.push(entry);
  socket.on('data', (chunk: Buffer) => {
    entry.receivedBytes += chunk.length;
  });
  const remoteAddress = socket.remoteAddress ?? peer?.host;
  const remotePort = socket.remotePort ?? peer?.port;
  say(`socket ${socket.localAddress} ${socket.localPort} ${remoteAddress} ${remotePort}`);
}

function listen(address: string, port: number, behaviour: string): void {
  const server = net.createServer((socket) => {
    // Peers resetting is part of the job; it must not kill the listener.
    socket.on('error', () => undefined);
    track(socket);
    if (behaviour === 'echo') socket.pipe(socket);
    // Reading is what notices the peer's FIN and answers it with ours.
    else socket.resume();
    if (behaviour === 'close') socket.end();
  });
  server.on('error', (error) => die(error.message));
  server.listen({ host: address, port }, () => {
    const bound = server.address();
    if (bound === null || typeof bound === 'string') die('no address bound');
    say(`listening ${bound.address} ${bound.port}`);
    say('ready');
  });
}

function connect(host: string, port: number, count: number, outcome: string): void {
  let reached = 0;
  const arrived = (): void => {
    reached += 1;
    if (reached === count) say('ready');
  };
  for (let i = 0; i < count; i += 1) {
    // closewait: without half-open, Node would answer the peer's FIN at once.
    const socket = net.connect({ host, port, allowHalfOpen: outcome === 'closewait' });
    socket.on('error', (error) => {
      if (reached < count) die(`${host}:${port}: ${error.message}`);
    });
    if (outcome === 'syn') {
      // The SYN is out once the kernel picked a source port.
      const poll = setInterval(() => {
        if (socket.localPort === undefined) return;
        clearInterval(poll);
        track(socket, { host, port });
        arrived();
      }, 5);
      continue;
    }
    socket.once('connect', () => {
      track(socket);
      socket.resume();
      if (outcome === 'hold') arrived();
      if (outcome === 'timewait') {
        socket.once('close', arrived);
        socket.end();
      }
      if (outcome === 'closewait') socket.once('end', arrived);
      if (outcome === 'reset') {
        socket.once('close', arrived);
        socket.resetAndDestroy();
      }
    });
  }
}

async function runCommand(line: string): Promise<void> {
  const [command, argument] = line.trim().split(' ');
  const open = tracked.filter(({ socket }) => !socket.destroyed);
  if (command === 'end') {
    await Promise.all(open.map(({ socket }) => new Promise<void>((done) => socket.end(done))));
  } else if (command === 'reset') {
    await Promise.all(
      open.map(({ socket }) => {
        const closed = new Promise<void>((done) => socket.once('close', done));
        socket.resetAndDestroy();
        return closed;
      }),
    );
  } else if (command === 'send') {
    const bytes = Number(argument);
    await Promise.all(
      open.map((entry) => {
        entry.sentBytes += bytes;
        return new Promise<void>((done) =>
          entry.socket.write(Buffer.alloc(bytes, 'x'), () => done()),
        );
      }),
    );
  } else if (command === 'stats') {
    for (const { localPort, sentBytes, receivedBytes } of tracked) {
      say(`stats ${localPort} ${sentBytes} ${receivedBytes}`);
    }
  } else {
    die(`unknown command: ${line}`);
  }
  say(`ok ${line.trim()}`);
}

function main(argv: string[]): void {
  const [mode, address, portText, ...rest] = argv;
  const port = Number(portText);
  if (address === undefined || !Number.isInteger(port)) die('usage: see tcp-actor.ts');
  if (mode === 'listen') {
    const behaviour = rest[0] ?? 'hold';
    if (!['hold', 'close', 'echo'].includes(behaviour)) die(`unknown behaviour ${behaviour}`);
    listen(address, port, behaviour);
  } else if (mode === 'connect') {
    const count = Number(rest[0] ?? 1);
    if (!Number.isInteger(count) || count < 1) die(`bad count ${rest[0]}`);
    const outcome = rest[1] ?? 'hold';
    if (!['hold', 'syn', 'timewait', 'closewait', 'reset'].includes(outcome)) {
      die(`unknown outcome ${outcome}`);
    }
    connect(address, port, count, outcome);
  } else {
    die(`unknown mode ${mode}`);
  }
  // Commands run one at a time so their `ok` lines come out in order.
  let queue = Promise.resolve();
  createInterface({ input: process.stdin })
    .on('line', (line) => {
      queue = queue.then(() => runCommand(line));
    })
    .on('close', () => process.exit(0));
}

if (require.main === module) main(process.argv.slice(2));
