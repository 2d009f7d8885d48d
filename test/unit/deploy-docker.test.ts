/**
 * The Docker files, statically: the Dockerfile's shape users rely on, a
 * build context that holds what the Dockerfile copies, the entrypoint's
 * syntax, and docker-compose.yml wiring the exporter and Prometheus
 * together. (packaging-docker.test.ts builds and runs the image for real.)
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type TestContext } from 'node:test';

import { parse } from 'yaml';
import { missingComponent } from '../helpers/components';

const ROOT = path.join(__dirname, '..', '..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

interface ComposeService {
  build?: string;
  image?: string;
  network_mode?: string;
  cap_add?: string[];
  privileged?: boolean;
  command?: string[];
  volumes?: string[];
}

test('the Dockerfile: overridable base, two stages, EXPOSE, non-root USER, exec-form ENTRYPOINT', () => {
  const dockerfile = read('Dockerfile');
  const lines = dockerfile
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'));
  // Before the first FROM, so that the stages can use them: a supported
  // Node LTS line to build, and the Debian release it is based on to run.
  assert.deepEqual(lines.slice(0, 2), [
    'ARG BASE_IMAGE=node:24-bookworm-slim',
    'ARG RUNTIME_IMAGE=debian:bookworm-slim',
  ]);
  const stages = lines.filter((line) => line.startsWith('FROM '));
  assert.deepEqual(stages, ['FROM ${BASE_IMAGE} AS build', 'FROM ${RUNTIME_IMAGE}']);
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  assert.doesNotMatch(runtime, /-dev\b|g\+\+|build-essential/);
  assert.match(runtime, /^COPY --from=build \/usr\/local\/bin\/node \/usr\/local\/bin\/node$/m);
  assert.match(runtime, /^EXPOSE 9318$/m);
  const user = /^USER (\d+)(?::\d+)?$/m.exec(runtime)?.[1];
  assert.ok(user !== undefined && Number(user) !== 0, 'a numeric, non-root USER');
  assert.match(runtime, /^ENTRYPOINT \["[^"]+"\]$/m);
});

test('.dockerignore lets in exactly what the Dockerfile copies', () => {
  const allowed = read('.dockerignore')
    .split('\n')
    .filter((line) => line.startsWith('!'))
    .map((line) => line.slice(1).replace(/\/$/, ''));
  const copied = [...read('Dockerfile').matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((match) =>
    match[1]!.split(' '),
  );
  for (const source of copied) {
    assert.ok(allowed.includes(source.replace(/\/$/, '')), `${source} is not in the build context`);
    assert.ok(existsSync(path.join(ROOT, source)), `${source} does not exist`);
  }
  assert.ok(read('.dockerignore').split('\n').includes('*'), 'everything else is left out');
});

test('the entrypoint is valid sh', () => {
  const check = spawnSync('sh', ['-n', path.join(ROOT, 'deploy', 'docker', 'entrypoint.sh')], {
    encoding: 'utf8',
  });
  assert.equal(check.status, 0, check.stderr);
});

/**
 * The image's /app, made here: bin/ linked as the Dockerfile links it (from
 * package.json "bin"), dist/ the built one. The entrypoint runs from a copy
 * that points at it; as root, it runs the command without setpriv.
 */
function entrypointOutsideDocker(t: TestContext): {
  app: string;
  run: (args: string[]) => SpawnSyncReturns<string>;
} {
  const app = mkdtempSync(path.join(tmpdir(), 'cte-app-'));
  t.after(() => rmSync(app, { recursive: true, force: true }));
  symlinkSync(path.join(ROOT, 'dist'), path.join(app, 'dist'));
  mkdirSync(path.join(app, 'bin'));
  for (const [name, file] of Object.entries(packageBin())) {
    symlinkSync(`../${file}`, path.join(app, 'bin', name));
  }
  const script = read('deploy/docker/entrypoint.sh');
  assert.match(script, /^app=\/app$/m);
  const entrypoint = path.join(app, 'entrypoint.sh');
  writeFileSync(entrypoint, script.replace(/^app=\/app$/m, `app=${app}`));
  const run = (args: string[]) =>
    spawnSync('sh', [entrypoint, ...args], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}` },
    });
  return { app, run };
}

function packageBin(): Record<string, string> {
  return (JSON.parse(read('package.json')) as { bin: Record<string, string> }).bin;
}

test("the Dockerfile links every command of package.json's bin for the entrypoint", () => {
  assert.match(
    read('Dockerfile'),
    /^RUN node -e .*Object\.entries\(require\("\.\/package\.json"\)\.bin\).*symlinkSync\(`\.\.\/\$\{file\}`, `bin\/\$\{name\}`\)/m,
  );
  assert.deepEqual(Object.keys(packageBin()).sort(), [
    'conntrack-exporter',
    'conntrack_exporter',
    'tcp-metrics-proxy',
    'tcp_established_exporter',
  ]);
});

test('the entrypoint runs the command named first, and the exporter for anything else', (t) => {
  const { app, run } = entrypointOutsideDocker(t);
  for (const name of Object.keys(packageBin())) {
    const help = name.includes('_') || name === 'tcp-metrics-proxy' ? '-h' : '--help';
    // The command as npm installs it: by its name.
    const direct = spawnSync(process.execPath, [path.join(app, 'bin', name), help], {
      encoding: 'utf8',
    });
    const viaEntrypoint = run([name, help]);
    assert.equal(viaEntrypoint.status, direct.status, viaEntrypoint.stderr);
    // Go's flag package writes its usage to stderr, yargs to stdout.
    assert.equal(viaEntrypoint.stdout + viaEntrypoint.stderr, direct.stdout + direct.stderr, name);
  }
  const usage = (result: SpawnSyncReturns<string>) => result.stdout + result.stderr;
  assert.match(
    usage(run(['tcp_established_exporter', '-h'])),
    /^Usage of tcp_established_exporter:/,
  );
  assert.match(usage(run(['tcp-metrics-proxy', '-h'])), /^Usage of tcp-metrics-proxy:/);

  // Under the original's name the program knows it: short flags, its layout.
  const original = run(['conntrack_exporter', '-l', '9101', '--print-config']);
  assert.equal(original.status, 0, original.stderr);
  assert.match(original.stdout, /^listen-port 9101 +# command line/m);
  assert.match(original.stdout, /^metric-layout v0\.3 +# default/m);

  // Options, or nothing known, go to the exporter as before.
  const flags = run(['--listen-port=9101', '--print-config']);
  assert.equal(flags.status, 0, flags.stderr);
  assert.match(flags.stdout, /^listen-port 9101 +# command line/m);
  assert.match(flags.stdout, /^metric-layout native +# default/m);
  const word = run(['sh', '-c', 'id']);
  assert.equal(word.status, 2);
  assert.match(word.stderr, /^conntrack-exporter: .*unexpected argument 'sh'/);
  // A path is no command name, even one that leads to a program.
  const outside = run(['../dist/cli.js', '--print-config']);
  assert.equal(outside.status, 2);
  assert.match(outside.stderr, /unexpected argument '\.\.\/dist\/cli\.js'/);
});

test('docker-compose.yml: an opt-in profile sets nf_conntrack_events=1 on the host', () => {
  const compose = parse(read('docker-compose.yml')) as {
    services: Record<string, ComposeService & { profiles?: string[] }>;
  };
  const events = compose.services['conntrack-events'];
  assert.ok(events);
  assert.deepEqual(events.profiles, ['conntrack-events']);
  assert.equal(events.network_mode, 'host');
  assert.equal(events.privileged, true);
  assert.deepEqual(events.command, ['sysctl', '-w', 'net.netfilter.nf_conntrack_events=1']);
  // Only in its profile: a plain `docker compose up` does not run it.
  for (const [name, service] of Object.entries(compose.services)) {
    if (name !== 'conntrack-events') assert.equal(service.profiles, undefined, name);
  }
});

test('docker-compose accepts docker-compose.yml', (t) => {
  const missing =
    spawnSync('docker-compose', ['version']).status === 0
      ? false
      : 'docker-compose not installed (apt-get install docker-compose)';
  if (missingComponent(t, missing)) return;
  const check = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config', '--quiet'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(check.status, 0, check.stderr);
});

test('docker-compose.yml: the exporter on the host network with NET_ADMIN, Prometheus beside it', () => {
  const compose = parse(read('docker-compose.yml')) as { services: Record<string, ComposeService> };
  const exporter = compose.services['conntrack-exporter'];
  assert.ok(exporter);
  assert.equal(exporter.build, '.');
  assert.equal(exporter.network_mode, 'host');
  assert.deepEqual(exporter.cap_add, ['NET_ADMIN']);
  assert.notEqual(exporter.privileged, true);
  const port = /--listen-port=(\d+)/.exec((exporter.command ?? []).join(' '))?.[1] ?? '9318';

  const prometheus = compose.services.prometheus;
  assert.ok(prometheus);
  assert.match(prometheus.image ?? '', /^prom\/prometheus:/);
  assert.equal(prometheus.network_mode, 'host');
  const mounts = new Map(
    (prometheus.volumes ?? []).map((volume) => {
      const [source, target] = volume.split(':');
      return [target, source];
    }),
  );
  const config = mounts.get('/etc/prometheus/prometheus.yml');
  assert.ok(config !== undefined && existsSync(path.join(ROOT, config)));
  // The mounted configuration scrapes the exporter where compose runs it,
  // and loads the rules from where compose mounts them.
  const scrape = parse(read(config)) as {
    rule_files: string[];
    scrape_configs: { static_configs: { targets: string[] }[] }[];
  };
  assert.deepEqual(scrape.scrape_configs[0]?.static_configs[0]?.targets, [`localhost:${port}`]);
  for (const rules of scrape.rule_files) {
    const source = mounts.get(path.posix.join('/etc/prometheus', rules));
    assert.ok(
      source !== undefined && existsSync(path.join(ROOT, source)),
      `${rules} is not mounted`,
    );
  }
  for (const volume of compose.services.grafana?.volumes ?? []) {
    const source = volume.split(':')[0]!;
    if (source.startsWith('./')) assert.ok(existsSync(path.join(ROOT, source)), source);
  }
});
