/**
 * A private Docker engine for one test run: its own socket, data and state
 * directories, no bridge, no firewall rules and no sysctl changes, stopped
 * and wiped afterwards, even on failure. It can run in the root network
 * namespace (to build, with the host's network) or inside a test namespace,
 * where `docker run --net=host` puts containers into that namespace, so a
 * container sees the test's connections and never the host's.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';

import type { ExecResult, Namespace } from './netns';

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
// Debian's client matches Debian's dockerd (docker.io); a newer client found
// first on PATH may insist on buildx for `docker build`.
const CLIENT = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
// Created by dockerd and containerd outside the directories given to them.
// Removed afterwards only if this run created them and no other engine runs.
const HOST_PATHS = ['/etc/docker/key.json', '/run/docker', '/run/containerd', '/run/xtables.lock'];
const CGROUP_ROOT = '/sys/fs/cgroup';

/** Why no engine can be started here, or undefined if one can be tried. */
export function dockerUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'the Docker test needs root';
  const dockerd = ['/usr/bin/dockerd', '/usr/sbin/dockerd', '/usr/local/bin/dockerd'].find((p) =>
    existsSync(p),
  );
  if (dockerd === undefined) return 'no Docker engine installed (apt-get install docker.io)';
  return undefined;
}

export interface DockerEngine {
  readonly dir: string;
  /** The environment that points docker clients (docker-compose too) at this engine. */
  readonly env: NodeJS.ProcessEnv;
  /** Runs the docker client against this engine; a non-zero exit is in `code`. */
  docker(
    args: readonly string[],
    options?: { input?: string; timeoutMs?: number },
  ): Promise<ExecResult>;
  /** Like docker(), but throws with the output on a non-zero exit. */
  mustDocker(
    args: readonly string[],
    options?: { input?: string; timeoutMs?: number },
  ): Promise<string>;
  /** Starts dockerd, in `ns`'s network namespace if given. */
  start(ns?: Namespace): Promise<void>;
  /** Removes every container, then stops dockerd. */
  stop(): Promise<void>;
  /** Everything dockerd logged. */
  log(): string;
}

/** Creates the engine's directories; `t.after` stops it and removes all it left. */
export function createDockerEngine(t: TestContext): DockerEngine {
  const existedBefore = new Set(HOST_PATHS.filter((p) => existsSync(p)));
  const cgroupsBefore = new Set(dockerCgroups());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cte-docker-'));
  const socket = path.join(dir, 'docker.sock');
  const env = {
    ...process.env,
    DOCKER_HOST: `unix://${socket}`,
    // The client would otherwise write ~/.docker.
    DOCKER_CONFIG: path.join(dir, 'config'),
    // The classic builder: BuildKit in this Debian release wants to pull its
    // own helper images, which no registry here provides.
    DOCKER_BUILDKIT: '0',
  };
  let daemon: ChildProcess | undefined;
  let logText = '';

  const docker: DockerEngine['docker'] = (args, options = {}) =>
    run(CLIENT, args, { env, input: options.input, timeoutMs: options.timeoutMs ?? 120_000 });

  const stopDaemon = async (): Promise<void> => {
    const child = daemon;
    daemon = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  const engine: DockerEngine = {
    dir,
    env,
    docker,
    async mustDocker(args, options) {
      const result = await docker(args, options);
      if (result.code !== 0) {
        throw new Error(
          `docker ${args.join(' ')}: exit ${result.code}\n${result.stdout}${result.stderr}`,
        );
      }
      return result.stdout;
    },
    async start(ns) {
      if (daemon !== undefined) throw new Error('dockerd already running');
      const args = [
        ...['--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec')],
        ...['--pidfile', path.join(dir, 'dockerd.pid'), '-H', env.DOCKER_HOST],
        // Leave the host's firewall, forwarding sysctl and links alone: the
        // tests use only --net=host (and --network=host to build).
        ...['--iptables=false', '--ip6tables=false', '--ip-forward=false', '--bridge=none'],
      ];
      // nsenter --net, not `ip netns exec`: that also remounts /sys, which
      // hides the cgroup hierarchy dockerd needs.
      const command = ns
        ? ['nsenter', `--net=/run/netns/${ns.name}`, 'dockerd', ...args]
        : ['dockerd', ...args];
      const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
      daemon = child;
      const append = (chunk: Buffer) => (logText = (logText + chunk.toString()).slice(-200_000));
      child.stdout?.on('data', append);
      child.stderr?.on('data', append);
      const deadline = Date.now() + START_TIMEOUT_MS;
      for (;;) {
        if (child.exitCode !== null) {
          throw new Error(`dockerd exited with ${child.exitCode}:\n${logText.slice(-3000)}`);
        }
        if ((await docker(['version', '--format', '{{.Server.Version}}'])).code === 0) return;
        if (Date.now() > deadline)
          throw new Error(`dockerd did not start:\n${logText.slice(-3000)}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    },
    async stop() {
      if (daemon === undefined) return;
      const ids = (await docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await docker(['rm', '-f', ...ids]);
      await stopDaemon();
    },
    log: () => logText,
  };

  t.after(async () => {
    await engine.stop().catch(() => stopDaemon());
    // containerd and its shims are dockerd's children; a SIGKILLed dockerd
    // may leave them behind.
    await killProcessesMentioning(dir);
    unmountUnder(dir);
    rmSync(dir, { recursive: true, force: true });
    if (!(await otherDockerdRunning())) {
      for (const p of HOST_PATHS)
        if (!existedBefore.has(p)) rmSync(p, { recursive: true, force: true });
      for (const cgroup of dockerCgroups()) {
        if (cgroupsBefore.has(cgroup)) continue;
        try {
          rmdirSync(cgroup);
        } catch {
          // Still in use by a container of another engine: not ours to remove.
        }
      }
    }
  });
  return engine;
}

/** The per-controller "docker" cgroups dockerd creates for its containers. */
function dockerCgroups(): string[] {
  try {
    const controllers = readdirSync(CGROUP_ROOT);
    const own = existsSync(path.join(CGROUP_ROOT, 'docker'))
      ? [path.join(CGROUP_ROOT, 'docker')]
      : [];
    return [
      ...own,
      ...controllers.map((c) => path.join(CGROUP_ROOT, c, 'docker')).filter((p) => existsSync(p)),
    ];
  } catch {
    return [];
  }
}

function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((mountpoint) => mountpoint.startsWith(`${dir}/`))
    .sort()
    .reverse();
  for (const mountpoint of mounts) {
    // Lazy: a mount still busy is detached now and freed when released.
    spawnSyncQuiet('umount', ['-l', mountpoint]);
  }
}

function spawnSyncQuiet(file: string, args: string[]): void {
  try {
    execFileSync(file, args, { stdio: 'ignore' });
  } catch {
    // Already unmounted.
  }
}

async function killProcessesMentioning(dir: string): Promise<void> {
  const { stdout } = await run('pgrep', ['-f', dir], { env: process.env, timeoutMs: 10_000 });
  for (const pid of stdout.split('\n').filter((line) => /^\d+$/.test(line))) {
    if (Number(pid) === process.pid) continue;
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
}

async function otherDockerdRunning(): Promise<boolean> {
  const { code } = await run('pgrep', ['-x', 'dockerd'], { env: process.env, timeoutMs: 10_000 });
  return code === 0;
}

function run(
  file: string,
  args: readonly string[],
  options: { env: NodeJS.ProcessEnv; input?: string; timeoutMs: number },
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      {
        env: options.env,
        encoding: 'utf8',
        timeout: options.timeoutMs,
        maxBuffer: 256 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error === null) resolve({ stdout, stderr, code: 0 });
        else if (typeof error.code === 'number') resolve({ stdout, stderr, code: error.code });
        else reject(new Error(`${file} ${args.join(' ')}: ${error.message}\n${stderr}`));
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}
