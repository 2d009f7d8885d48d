/** The three measurements: iperf3 throughput, connections per second, memory with idle connections. */
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { startProcess, type Subprocess } from './processes';

const run = promisify(execFile);

export const CONNLOAD = '.bench/connload';
export const SECONDS = 3;
const OMIT_SECONDS = 1;

/** Resolves once something accepts connections on the port (bounded). */
export async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing listens on port ${port}`);
}

interface IperfResult {
  end: { sum_received: { bits_per_second: number; bytes: number } };
}

/** One iperf3 run through `port`: Gbit/s and bytes received. */
export async function iperf(
  port: number,
  extra: readonly string[],
): Promise<{ gbits: number; bytes: number }> {
  const args = ['-c', '127.0.0.1', '-p', String(port), '-t', String(SECONDS)];
  args.push('-O', String(OMIT_SECONDS), '-J', ...extra);
  const { stdout } = await run('iperf3', args, { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
  const result = JSON.parse(stdout) as IperfResult;
  const received = result.end.sum_received;
  return { gbits: received.bits_per_second / 1e9, bytes: received.bytes };
}

/** Connections per second through `port`, each echoing 100 bytes. */
export async function connectionRate(port: number, clients: number): Promise<number> {
  const { stdout } = await run(CONNLOAD, ['rate', String(port), String(clients), String(SECONDS)], {
    timeout: 60_000,
  });
  const match = /connections (\d+) seconds ([\d.]+) errors (\d+) first_error (.*)/.exec(stdout);
  if (!match) throw new Error(`connload said: ${stdout}`);
  const errors = Number(match[3]);
  if (errors > 0)
    process.stderr.write(`  port ${port}: ${errors} failed connections (${match[4]})\n`);
  return Number(match[1]) / Number(match[2]);
}

/** Opens `count` connections through `port` and keeps them open until `release()`. */
export async function holdIdle(
  port: number,
  count: number,
): Promise<{ opened: number; release: () => Promise<void> }> {
  const holder: Subprocess = await startProcess(
    CONNLOAD,
    ['idle', String(port), String(count)],
    /ready \d+/,
    60_000,
  );
  const opened = Number(/ready (\d+)/.exec(holder.output())?.[1] ?? 0);
  return {
    opened,
    release: async () => {
      holder.child.stdin?.end();
      await holder.stop();
    },
  };
}
