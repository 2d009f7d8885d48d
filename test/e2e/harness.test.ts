/**
 * Proves the end-to-end harness: each TCP state the other e2e tests rely on
 * really shows up in the host namespace's conntrack table with the expected
 * tuple, and namespaces never outlive a test, however it ends.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import test, { type TestContext } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import {
  conntrackList,
  createNamespace,
  createTopology,
  dropTcpPort,
  isProcessAlive,
  keepTimeWait,
  listNamespaces,
  waitFor,
  WaitTimeoutError,
  type ConntrackEntry,
  type Namespace,
} from '../helpers/netns';
import { startActor, type SocketEnds } from '../helpers/tcp-actor';

type Family = 'ipv4' | 'ipv6';
type Row = Omit<ConntrackEntry, 'timeoutSeconds' | 'flags'>;

const FAMILIES: Family[] = ['ipv4', 'ipv6'];
const PORT = 8080;

function addressOf(ns: Namespace, family: Family): string {
  return family === 'ipv4' ? ns.ipv4 : ns.ipv6;
}

/** The host table's entry for `socket`, as reported by the actor in `client`. */
function rowFor(
  family: Family,
  state: string,
  client: Namespace,
  server: Namespace,
  socket: SocketEnds,
): Row {
  const clientAddress = addressOf(client, family);
  const serverAddress = addressOf(server, family);
  return {
    family,
    state,
    original: {
      src: clientAddress,
      dst: serverAddress,
      sport: socket.localPort,
      dport: socket.remotePort,
    },
    reply: {
      src: serverAddress,
      dst: clientAddress,
      sport: socket.remotePort,
      dport: socket.localPort,
    },
  };
}

function sortRows(rows: Row[]): Row[] {
  return [...rows].sort((a, b) => a.original.sport - b.original.sport);
}

/**
 * Waits for the table to hold exactly `expected`, since packets and state
 * changes land a little after the actor reports; on timeout the assertion
 * shows the difference.
 */
async function assertTable(ns: Namespace, expected: Row[]): Promise<ConntrackEntry[]> {
  const wanted = sortRows(expected);
  let entries: ConntrackEntry[] = [];
  let actual: Row[] = [];
  try {
    await waitFor(
      async () => {
        entries = await conntrackList(ns);
        actual = sortRows(
          entries.map(({ family, state, original, reply }) => ({ family, state, original, reply })),
        );
        return isDeepStrictEqual(actual, wanted);
      },
      5_000,
      'conntrack table',
    );
  } catch (error) {
    if (!(error instanceof WaitTimeoutError)) throw error;
  }
  assert.deepEqual(actual, wanted);
  return entries;
}

for (const family of FAMILIES) {
  test(`SYN_SENT: a SYN that the remote host never answers (${family})`, async (t) => {
    const { host, remote } = await createTopology(t);
    await dropTcpPort(remote, PORT);
    const client = await startActor(host, {
      mode: 'connect',
      host: addressOf(remote, family),
      port: PORT,
      outcome: 'syn',
    });
    const entries = await assertTable(
      host,
      client.sockets.map((socket) => rowFor(family, 'SYN_SENT', host, remote, socket)),
    );
    assert.deepEqual(entries[0]?.flags, ['UNREPLIED']);
  });

  test(`ESTABLISHED: outbound connections held open (${family})`, async (t) => {
    const { host, remote } = await createTopology(t);
    const server = await startActor(remote, {
      mode: 'listen',
      address: addressOf(remote, family),
      port: PORT,
    });
    const client = await startActor(host, {
      mode: 'connect',
      host: addressOf(remote, family),
      port: PORT,
      count: 3,
    });
    assert.equal(client.sockets.length, 3);
    await assertTable(
      host,
      client.sockets.map((socket) => rowFor(family, 'ESTABLISHED', host, remote, socket)),
    );
    assert.equal((await server.waitForSockets(3)).length, 3);
  });

  test(`ESTABLISHED: inbound connections from the remote host (${family})`, async (t) => {
    const { host, remote } = await createTopology(t);
    const server = await startActor(host, {
      mode: 'listen',
      address: addressOf(host, family),
      port: PORT,
    });
    const client = await startActor(remote, {
      mode: 'connect',
      host: addressOf(host, family),
      port: PORT,
      count: 2,
    });
    await assertTable(
      host,
      client.sockets.map((socket) => rowFor(family, 'ESTABLISHED', remote, host, socket)),
    );
    const accepted = await server.waitForSockets(2);
    assert.deepEqual(
      accepted.map((socket) => socket.remotePort).sort(),
      client.sockets.map((socket) => socket.localPort).sort(),
    );
  });

  test(`TIME_WAIT: the host closes first, then the remote host (${family})`, async (t) => {
    const { host, remote } = await createTopology(t);
    await keepTimeWait(remote, PORT);
    await startActor(remote, { mode: 'listen', address: addressOf(remote, family), port: PORT });
    const client = await startActor(host, {
      mode: 'connect',
      host: addressOf(remote, family),
      port: PORT,
      outcome: 'timewait',
    });
    await assertTable(
      host,
      client.sockets.map((socket) => rowFor(family, 'TIME_WAIT', host, remote, socket)),
    );
  });

  test(`CLOSE_WAIT: the remote host closes, the host stays open (${family})`, async (t) => {
    const { host, remote } = await createTopology(t);
    await startActor(remote, {
      mode: 'listen',
      address: addressOf(remote, family),
      port: PORT,
      behaviour: 'close',
    });
    const client = await startActor(host, {
      mode: 'connect',
      host: addressOf(remote, family),
      port: PORT,
      outcome: 'closewait',
    });
    await assertTable(
      host,
      client.sockets.map((socket) => rowFor(family, 'CLOSE_WAIT', host, remote, socket)),
    );
  });

  test(`CLOSE: the host resets the connection (${family})`, async (t) => {
    const { host, remote } = await createTopology(t);
    await startActor(remote, { mode: 'listen', address: addressOf(remote, family), port: PORT });
    const client = await startActor(host, {
      mode: 'connect',
      host: addressOf(remote, family),
      port: PORT,
      outcome: 'reset',
    });
    await assertTable(
      host,
      client.sockets.map((socket) => rowFor(family, 'CLOSE', host, remote, socket)),
    );
  });

  test(`an echo listener returns what it receives (${family})`, async (t) => {
    const { host, remote } = await createTopology(t);
    await startActor(remote, {
      mode: 'listen',
      address: addressOf(remote, family),
      port: PORT,
      behaviour: 'echo',
    });
    const client = await startActor(host, {
      mode: 'connect',
      host: addressOf(remote, family),
      port: PORT,
    });
    await client.send(100_000);
    const [stats] = await waitFor(async () => {
      const all = await client.stats();
      return all[0]?.receivedBytes === 100_000 && all;
    });
    assert.deepEqual(stats, {
      localPort: client.sockets[0]?.localPort,
      sentBytes: 100_000,
      receivedBytes: 100_000,
    });
  });
}

test('held connections move on when told to end or reset', async (t) => {
  const { host, remote } = await createTopology(t);
  await startActor(remote, { mode: 'listen', address: remote.ipv4, port: PORT });
  const connect = { mode: 'connect', host: remote.ipv4, port: PORT } as const;
  const ending = await startActor(host, connect);
  const resetting = await startActor(host, connect);
  const rows = (endState: string, resetState: string): Row[] => [
    ...ending.sockets.map((socket) => rowFor('ipv4', endState, host, remote, socket)),
    ...resetting.sockets.map((socket) => rowFor('ipv4', resetState, host, remote, socket)),
  ];
  await assertTable(host, rows('ESTABLISHED', 'ESTABLISHED'));
  await Promise.all([ending.end(), resetting.reset()]);
  await assertTable(host, rows('TIME_WAIT', 'CLOSE'));
});

test('a single namespace tracks its loopback connections', async (t) => {
  const ns = await createNamespace(t);
  await startActor(ns, { mode: 'listen', address: ns.ipv6, port: PORT });
  const client = await startActor(ns, { mode: 'connect', host: ns.ipv6, port: PORT });
  await assertTable(
    ns,
    client.sockets.map((socket) => rowFor('ipv6', 'ESTABLISHED', ns, ns, socket)),
  );
});

test('destroy kills what runs in the namespaces, deletes them, and can be repeated', async () => {
  const topology = await createTopology();
  const { host, remote } = topology;
  const server = await startActor(remote, { mode: 'listen', address: remote.ipv4, port: PORT });
  // A grandchild is not tracked: only the namespace knows about it.
  const shell = host.spawn(['sh', '-c', 'sleep 60 & echo $!; wait']);
  const grandchild = await new Promise<number>((resolve) =>
    shell.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString()))),
  );
  const pids = [server.process.pid, shell.pid, grandchild];

  await Promise.all([topology.destroy(), topology.destroy()]);
  await topology.destroy();

  const names = await listNamespaces();
  assert.ok(!names.includes(host.name) && !names.includes(remote.name), names.join(', '));
  for (const pid of pids) assert.equal(isProcessAlive(pid ?? 0), false, `pid ${pid}`);
});

interface Leftovers {
  namespaces: string[];
  pids: number[];
}

const NETNS_MODULE = join(__dirname, '..', 'helpers', 'netns.ts');
const ACTOR_MODULE = join(__dirname, '..', 'helpers', 'tcp-actor.ts');

/**
 * Runs `body` in a child Node process that creates a topology with a running
 * actor, reports both on stderr, then lets `body` end the process its way.
 */
async function runDoomedProcess(
  t: TestContext,
  body: string,
  signal?: NodeJS.Signals,
): Promise<{
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  left: Leftovers;
}> {
  const script = `
    const test = require('node:test');
    const { createTopology, listNamespaces } = require(${JSON.stringify(NETNS_MODULE)});
    const { startActor } = require(${JSON.stringify(ACTOR_MODULE)});
    async function setUp(t) {
      const topology = await createTopology(t);
      const { remote } = topology;
      const actor = await startActor(remote, { mode: 'listen', address: remote.ipv4, port: 80 });
      const names = [topology.host.name, remote.name];
      process.stderr.write('LEFT ' + JSON.stringify({ namespaces: names, pids: [actor.process.pid] }) + '\\n');
      return names;
    }
    ${body}
  `;
  // Without this, a test runner started under `node --test` reports in its
  // binary protocol instead of text.
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', script], {
    env,
  });
  t.after(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    if (signal !== undefined && output.includes('LEFT ')) child.kill(signal);
  });
  const [code, exitSignal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('exit', (exitCode, killedBy) => resolve([exitCode, killedBy])),
  );
  const leftLine = /^LEFT (.*)$/m.exec(output)?.[1];
  assert.ok(leftLine !== undefined, output);
  return { code, signal: exitSignal, output, left: JSON.parse(leftLine) as Leftovers };
}

async function assertGone(left: Leftovers): Promise<void> {
  const names = await listNamespaces();
  assert.deepEqual(
    left.namespaces.filter((name) => names.includes(name)),
    [],
  );
  assert.deepEqual(
    left.pids.filter((pid) => isProcessAlive(pid)),
    [],
  );
}

test('a failing test still deletes its namespaces (t.after)', async (t) => {
  const run = await runDoomedProcess(
    t,
    `
    let names = [];
    test('fails', async (t) => {
      names = await setUp(t);
      throw new Error('boom');
    });
    // Checked while the process lives, so the exit hook cannot be what cleaned up.
    test('runs after', async () => {
      const live = await listNamespaces();
      process.stderr.write('STILL ' + JSON.stringify(names.filter((n) => live.includes(n))) + '\\n');
    });
  `,
  );
  assert.equal(run.code, 1, run.output);
  assert.match(run.output, /boom/);
  assert.match(run.output, /^STILL \[\]$/m);
  await assertGone(run.left);
});

test('an uncaught exception still deletes the namespaces (exit hook)', async (t) => {
  const run = await runDoomedProcess(t, `setUp().then(() => { throw new Error('boom'); });`);
  assert.equal(run.code, 1, run.output);
  assert.match(run.output, /boom/);
  await assertGone(run.left);
});

test('SIGTERM still deletes the namespaces and keeps its meaning', async (t) => {
  const run = await runDoomedProcess(
    t,
    `setUp().then(() => setInterval(() => {}, 1000));`,
    'SIGTERM',
  );
  assert.equal(run.signal, 'SIGTERM', run.output);
  await assertGone(run.left);
});
