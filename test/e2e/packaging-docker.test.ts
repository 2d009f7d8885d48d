/**
 * The Docker image as users run it: `docker run --cap-add=NET_ADMIN
 * --net=host IMAGE --listen-port=...`, against real connections.
 *
 * No image registry is reachable here, so the base image is made offline
 * (scripts/docker-offline-base.sh: debootstrap plus Node from the npm
 * registry) and passed as BASE_IMAGE. The engine is private to the test: it
 * builds in the root network namespace (the build needs apt and npm), then is
 * restarted inside a test namespace, so that --net=host means that
 * namespace, its conntrack table and the connections the test makes there.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { promisify } from 'node:util';

import { parse } from 'yaml';

import { missingComponent, skipOption } from '../helpers/components';
import { createDockerEngine, dockerUnavailable, type DockerEngine } from '../helpers/docker';
import { parseExposition, pick, seriesKey } from '../helpers/exporter';
import {
  dockerSecurityFlags,
  findContainer,
  findWorkload,
  shippedAlertRules,
} from '../helpers/manifests';
import { createTopology, waitFor, type Namespace } from '../helpers/netns';
import { startActor } from '../helpers/tcp-actor';

const ROOT = path.join(__dirname, '..', '..');
const VERSION = (
  JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }
).version;
const BASE_IMAGE = 'conntrack-exporter-offline/node:24-bookworm-slim';
const RUNTIME_IMAGE = 'conntrack-exporter-offline/debian:bookworm-slim';
const IMAGE = 'conntrack-exporter:docker-test';
const CONNECTIONS = /^conntrack_(opening|open|closing|closed)_connections$/;
const CAP_NET_ADMIN = 1n << 12n;
// Where docker-compose.yml's Prometheus listens (the host network, its default port).
const PROMETHEUS = 'http://127.0.0.1:9090';
const HAS_COMPOSE = spawnSync('docker-compose', ['version']).status === 0;
const PROMETHEUS_STAND_IN = [
  'ARG BASE_IMAGE',
  'FROM ${BASE_IMAGE}',
  'RUN apt-get update && apt-get install -y --no-install-recommends prometheus \\',
  ' && rm -rf /var/lib/apt/lists/* && mkdir /prometheus && chown nobody:nogroup /prometheus',
  'USER nobody',
  'WORKDIR /prometheus',
  'ENTRYPOINT ["/usr/bin/prometheus"]',
  'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]',
].join('\n');
// Stands for an application holding three connections to its database.
const APP = [
  "const net = require('node:net');",
  "net.createServer(() => {}).listen(5432, '127.0.0.1', () => {",
  "  for (let i = 0; i < 3; i++) net.connect(5432, '127.0.0.1');",
  '});',
].join('\n');

interface ProcessStatus {
  uid: string;
  effective: bigint;
  permitted: bigint;
}

test(
  'the Docker image, built offline, counts real connections with only CAP_NET_ADMIN',
  // Building the image (apt, npm ci, the addon) takes minutes on 2 cores.
  { timeout: 40 * 60_000 },
  async (t) => {
    const unavailable = dockerUnavailable();
    if (missingComponent(t, unavailable && `Docker test skipped: ${unavailable}`)) return;
    const started = Date.now();
    const engine = createDockerEngine(t);
    try {
      await engine.start();
    } catch (error) {
      const reason = `no Docker engine can be started here: ${(error as Error).message}`;
      if (missingComponent(t, `Docker test skipped: ${reason}`)) return;
    }
    for (const [kind, name] of [
      ['node', BASE_IMAGE],
      ['debian', RUNTIME_IMAGE],
    ] as const) {
      await engine.mustDocker(
        [
          'import',
          ...['--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
          ...(kind === 'node'
            ? ['--change', 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt']
            : []),
          ...['--change', `CMD ["${kind === 'node' ? 'node' : 'bash'}"]`],
          await makeOfflineBase(kind),
          name,
        ],
        { timeoutMs: 10 * 60_000 },
      );
    }
    await engine.mustDocker(
      [
        ...['build', '--network=host', '--build-arg', `BASE_IMAGE=${BASE_IMAGE}`],
        ...['--build-arg', `RUNTIME_IMAGE=${RUNTIME_IMAGE}`, '-t', IMAGE, ROOT],
      ],
      { timeoutMs: 30 * 60_000 },
    );
    t.diagnostic(`base and image built in ${Math.round((Date.now() - started) / 1000)} s`);
    const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as {
      services: Record<string, { image?: string }>;
    };
    const composeImages = {
      exporter: compose.services['conntrack-exporter']?.image ?? '',
      prometheus: compose.services.prometheus?.image ?? '',
    };
    if (HAS_COMPOSE) {
      // Stands for the Prometheus image docker-compose.yml names: Debian's
      // Prometheus, started the way the official image starts it.
      await engine.mustDocker(
        [
          'build',
          '--network=host',
          '--build-arg',
          `BASE_IMAGE=${BASE_IMAGE}`,
          '-t',
          composeImages.prometheus,
          '-',
        ],
        { input: PROMETHEUS_STAND_IN, timeoutMs: 10 * 60_000 },
      );
    }

    const config = JSON.parse(await engine.mustDocker(['image', 'inspect', IMAGE])) as {
      Size: number;
      Config: { User: string; ExposedPorts: Record<string, unknown>; Entrypoint: string[] };
    }[];
    const image = config[0]!;
    assert.equal(image.Config.User, '1000:1000');
    assert.deepEqual(Object.keys(image.Config.ExposedPorts), ['9318/tcp']);
    const [base] = JSON.parse(await engine.mustDocker(['image', 'inspect', BASE_IMAGE])) as {
      Size: number;
    }[];
    t.diagnostic(
      `image size ${Math.round(image.Size / 1e6)} MB, the Node base ${Math.round(base!.Size / 1e6)} MB`,
    );
    // The runtime stage starts from Debian and takes only the node binary:
    // smaller than the Node image the build stage uses.
    assert.ok(image.Size < base!.Size);
    // The runtime stage has the shared library, not the compiler or headers.
    const contents = await engine.mustDocker([
      ...['run', '--rm', '--net=none', '--entrypoint', 'sh', IMAGE, '-c'],
      'command -v g++ make python3 npm || true; ls /usr/include/libnetfilter_conntrack 2>&1 || true; ' +
        'ls /usr/lib/*/libnetfilter_conntrack.so.3; ls /app/node_modules',
    ]);
    assert.doesNotMatch(contents, /\/g\+\+|\/make|\/python3|\/npm/);
    assert.match(contents, /No such file/);
    assert.match(contents, /libnetfilter_conntrack\.so\.3/);
    // node-gyp-build, the addon's loader, stays.
    assert.doesNotMatch(contents, /^(node-gyp|node-addon-api|typescript)$/m);

    // From here on the engine lives in the namespace standing for the host.
    await engine.stop();
    const { host, remote } = await createTopology(t);
    await engine.start(host);

    await startActor(remote, { mode: 'listen', address: remote.ipv4, port: 5432 });
    await startActor(host, { mode: 'connect', host: remote.ipv4, port: 5432, count: 3 });
    const server = await startActor(host, { mode: 'listen', address: host.ipv6, port: 8080 });
    await startActor(remote, { mode: 'connect', host: host.ipv6, port: 8080, count: 2 });
    await server.waitForSockets(2);
    const expected = new Map<string, number>();
    for (const phase of ['opening', 'open', 'closing', 'closed']) {
      const out = { host: remote.ipv4, port: '5432', direction: 'outbound' };
      const inbound = { host: remote.ipv6, port: '8080', direction: 'inbound' };
      expected.set(seriesKey(`conntrack_${phase}_connections`, out), phase === 'open' ? 3 : 0);
      expected.set(seriesKey(`conntrack_${phase}_connections`, inbound), phase === 'open' ? 2 : 0);
    }

    await t.test('--version and --help need no capability', async () => {
      const version = await engine.docker(['run', '--rm', '--net=none', IMAGE, '--version']);
      assert.equal(version.code, 0, version.stderr);
      assert.equal(version.stdout.trim(), VERSION);
      const help = await engine.docker(['run', '--rm', '--net=none', IMAGE, '--help']);
      assert.match(help.stdout, /--listen-port/);
    });

    await t.test('docker run --cap-add=NET_ADMIN --net=host IMAGE --listen-port=9101', async () => {
      const id = await runDetached(
        engine,
        ['--cap-add=NET_ADMIN', '--net=host'],
        ['--listen-port=9101', '--no-resolve-hosts'],
      );
      await assertServes(engine, host, id, 9101, expected);
      const status = containerProcess(await containerPid(engine, id));
      // Not root, and holding CAP_NET_ADMIN and nothing else.
      assert.equal(status.uid, '1000');
      assert.equal(status.effective, CAP_NET_ADMIN);
      assert.equal(status.permitted, CAP_NET_ADMIN);
      await engine.mustDocker(['rm', '-f', id]);
    });

    await t.test("each of the package's commands, named first, runs from the image", async () => {
      const withCapability = ['--cap-add=NET_ADMIN', '--net=host'];
      const assertOnlyNetAdmin = async (id: string) => {
        const status = containerProcess(await containerPid(engine, id));
        assert.equal(status.uid, '1000');
        assert.equal(status.effective, CAP_NET_ADMIN);
      };
      // Earlier scrapes of exporters on other ports linger in TIME_WAIT on loopback.
      const remoteOnly = (series: Map<string, number>) =>
        new Map([...pick(series, CONNECTIONS)].filter(([key]) => !key.includes('127.0.0.1')));

      const named = await runDetached(engine, withCapability, [
        ...['conntrack-exporter', '--listen-port=9102', '--no-resolve-hosts'],
      ]);
      await assertServes(engine, host, named, 9102, expected);
      await assertOnlyNetAdmin(named);
      await engine.mustDocker(['rm', '-f', named]);

      // The C++ original's command line, and its v0.3.1 layout.
      const original = await runDetached(engine, withCapability, [
        'conntrack_exporter',
        '-l',
        '9103',
      ]);
      const originalSeries = parseExposition(
        await served(engine, host, original, 'http://127.0.0.1:9103/metrics'),
      );
      assert.deepEqual(
        remoteOnly(originalSeries),
        new Map([
          [seriesKey('conntrack_open_connections', { host: `${remote.ipv4}:5432` }), 3],
          [seriesKey('conntrack_open_connections', { host: `[${remote.ipv6}]:8080` }), 2],
        ]),
      );
      await assertOnlyNetAdmin(original);
      await engine.mustDocker(['rm', '-f', original]);

      // The Go tcp_established_exporter's, as in deploy/kubernetes/longterm-sidecar.yaml.
      const longterm = await runDetached(engine, withCapability, [
        ...['tcp_established_exporter', '--simple=true'],
      ]);
      const metric = 'netstat_tcp_longterm_connections_total';
      let count: number | undefined;
      // The two inbound connections count once established for 6 s.
      await waitFor(
        async () => {
          const body = await served(engine, host, longterm, 'http://127.0.0.1:9690/metrics');
          count = parseExposition(body).get(metric);
          return count === 2;
        },
        60_000,
        'two long-term connections',
      ).catch(() => undefined);
      assert.equal(count, 2);
      await assertOnlyNetAdmin(longterm);
      await engine.mustDocker(['rm', '-f', longterm]);

      // The Go tcp-metrics-proxy's: no capability needed or given. Its
      // connections stay on loopback, which the tests below leave out.
      await startActor(host, { mode: 'listen', address: '127.0.0.1', port: 3101 });
      const proxy = await runDetached(
        engine,
        ['--net=host'],
        [
          'tcp-metrics-proxy',
          '-listen=127.0.0.1:3100',
          '-target=127.0.0.1:3101',
          '-metrics=127.0.0.1:3102',
        ],
      );
      // One connection through it, held open; the container may not listen
      // yet when the client starts, so the client tries again until it does.
      const client = host.spawn([
        process.execPath,
        '-e',
        "const net = require('node:net'); const tryConnect = () => net.connect(3100, '127.0.0.1').on('error', () => setTimeout(tryConnect, 200)); tryConnect(); setTimeout(() => {}, 60_000);",
      ]);
      try {
        // Its metrics carry the label id; one proxy, one series each.
        const count = (series: Map<string, number>, name: string) =>
          [...pick(series, new RegExp(`^${name}$`)).values()].reduce((a, b) => a + b, 0);
        let proxySeries = new Map<string, number>();
        await waitFor(
          async () => {
            // Any path: the Go proxy served its metrics on every one.
            const body = await served(engine, host, proxy, 'http://127.0.0.1:3102/anything');
            proxySeries = parseExposition(body);
            return count(proxySeries, 'outbound_connection_count') === 1;
          },
          30_000,
          'the proxied connection',
        ).catch(() => undefined);
        assert.equal(count(proxySeries, 'inbound_connection_count'), 1);
        assert.equal(count(proxySeries, 'outbound_connection_count'), 1);
        const status = containerProcess(await containerPid(engine, proxy));
        assert.equal(status.uid, '1000');
        assert.equal(status.effective, 0n);
      } finally {
        client.kill('SIGKILL');
        await engine.mustDocker(['rm', '-f', proxy]);
      }
    });

    await t.test('as deploy/kubernetes/daemonset.yaml runs it', async () => {
      const daemonset = findWorkload('daemonset.yaml', 'DaemonSet').spec.template.spec;
      const container = findContainer(daemonset.containers, 'conntrack-exporter');
      const flags = dockerSecurityFlags(daemonset, container);
      assert.ok(flags.includes('--net=host') && flags.includes('--cap-drop=ALL'), flags.join(' '));
      const port = Number(container.ports?.[0]?.containerPort);
      const id = await runDetached(engine, flags, [
        ...(container.args ?? []),
        '--no-resolve-hosts',
      ]);
      await assertServes(engine, host, id, port, expected);
      const status = containerProcess(await containerPid(engine, id));
      assert.equal(status.uid, '1000');
      assert.equal(status.effective, CAP_NET_ADMIN);
      // What the probes ask for answers.
      const probe = container.readinessProbe?.httpGet?.path ?? '';
      const page = await host.exec(['curl', '-sS', '--fail', `http://127.0.0.1:${port}${probe}`]);
      assert.equal(page.code, 0, page.stderr);
      await engine.mustDocker(['rm', '-f', id]);
    });

    await t.test(
      "as deploy/kubernetes/sidecar.yaml runs it: the pod's own connections",
      async () => {
        const pod = findWorkload('sidecar.yaml', 'Deployment').spec.template.spec;
        const init = findContainer(pod.initContainers, 'enable-conntrack');
        const sidecar = findContainer(pod.containers, 'conntrack-exporter');
        // A network namespace of its own with only loopback, untracked, as a pod's is.
        const sandbox = (
          await engine.mustDocker([
            'run',
            '-d',
            '--net=none',
            '--entrypoint',
            'sleep',
            IMAGE,
            'infinity',
          ])
        ).trim();
        const inPod = `--net=container:${sandbox}`;
        const runInit = () =>
          engine.docker([
            'run',
            '--rm',
            inPod,
            ...dockerSecurityFlags(pod, init),
            IMAGE,
            ...(init.args ?? []),
          ]);
        const first = await runInit();
        assert.equal(first.code, 0, first.stdout + first.stderr);
        // A restarted pod runs it again.
        const again = await runInit();
        assert.equal(again.code, 0, again.stdout + again.stderr);
        await engine.mustDocker([
          ...['run', '-d', inPod, '--entrypoint', 'node', IMAGE, '-e'],
          APP,
        ]);
        await engine.mustDocker([
          ...['run', '-d', inPod, ...dockerSecurityFlags(pod, sidecar), IMAGE],
          ...[...(sidecar.args ?? []), '--no-resolve-hosts'],
        ]);
        const port = Number(sidecar.ports?.[0]?.containerPort);
        const database = seriesKey('conntrack_open_connections', {
          host: '127.0.0.1',
          port: '5432',
          direction: 'outbound',
        });
        let series = new Map<string, number>();
        await waitFor(
          async () => {
            const scrape = await engine.docker([
              ...['run', '--rm', inPod, '--entrypoint', 'node', IMAGE, '-e'],
              `fetch('http://127.0.0.1:${port}/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`,
            ]);
            if (scrape.code !== 0) return false;
            series = parseExposition(scrape.stdout);
            return series.get(database) === 3;
          },
          30_000,
          'the sidecar to count the three connections',
        ).catch(() => undefined);
        assert.equal(series.get(database), 3, [...pick(series, CONNECTIONS)].join('\n'));
      },
    );

    await t.test(
      'docker-compose.yml: Prometheus beside the exporter scrapes it and loads the alerts',
      {
        skip: skipOption(
          HAS_COMPOSE ? false : 'docker-compose not installed (apt-get install docker-compose)',
        ),
      },
      async () => {
        await engine.mustDocker(['tag', IMAGE, composeImages.exporter]);
        const composeCommand = (...args: string[]) =>
          promisify(execFile)('docker-compose', ['-p', 'cte-compose', ...args], {
            cwd: ROOT,
            env: engine.env,
            encoding: 'utf8',
            timeout: 5 * 60_000,
          });
        try {
          // Grafana has no stand-in here; the exporter and Prometheus are the pair.
          await composeCommand('up', '-d', '--no-build', 'conntrack-exporter', 'prometheus');
          const promql = async (query: string) => {
            const result = await host.exec([
              ...[
                'curl',
                '-sS',
                '--fail',
                '--max-time',
                '10',
                '--get',
                `${PROMETHEUS}/api/v1/query`,
              ],
              ...['--data-urlencode', `query=${query}`],
            ]);
            if (result.code !== 0) return [];
            return (
              JSON.parse(result.stdout) as { data: { result: { value: [number, string] }[] } }
            ).data.result;
          };
          // The shipped configuration scrapes every 30 s.
          await waitFor(
            async () => (await promql('up{job="conntrack-exporter"} == 1')).length === 1,
            90_000,
            'Prometheus to scrape the exporter',
          );
          const open = await promql(
            `sum(conntrack_open_connections{port="5432", direction="outbound"})`,
          );
          assert.equal(open[0]?.value[1], '3');
          const rules = await host.exec(['curl', '-sS', `${PROMETHEUS}/api/v1/rules`]);
          const groups = (JSON.parse(rules.stdout) as { data: { groups: { rules: unknown[] }[] } })
            .data.groups;
          assert.equal(
            groups.flatMap((group) => group.rules).length,
            shippedAlertRules(),
            'alerts.yml is loaded',
          );
        } finally {
          await composeCommand('down', '--volumes').catch(() => undefined);
        }
      },
    );

    await t.test('without NET_ADMIN it stops at once and says what to add', async () => {
      const run = await engine.docker(['run', '--rm', '--net=host', IMAGE, '--no-resolve-hosts']);
      assert.equal(run.code, 1, run.stdout + run.stderr);
      assert.match(run.stderr, /CAP_NET_ADMIN/);
      assert.match(run.stderr, /--cap-add=NET_ADMIN/);
    });

    await t.test('with no-new-privileges the entrypoint names the cause', async () => {
      const run = await engine.docker([
        ...['run', '--rm', '--net=host', '--cap-add=NET_ADMIN'],
        ...['--security-opt=no-new-privileges', IMAGE, '--no-resolve-hosts'],
      ]);
      assert.equal(run.code, 1, run.stdout + run.stderr);
      assert.match(run.stderr, /no-new-privileges is set/);
    });
    t.diagnostic(`docker test took ${Math.round((Date.now() - started) / 1000)} s`);
  },
);

async function makeOfflineBase(kind: 'node' | 'debian'): Promise<string> {
  const { stdout } = await promisify(execFile)(
    path.join(ROOT, 'scripts', 'docker-offline-base.sh'),
    [kind],
    {
      encoding: 'utf8',
      timeout: 20 * 60_000,
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  return stdout.trim().split('\n').pop() ?? '';
}

async function runDetached(
  engine: DockerEngine,
  dockerOptions: readonly string[],
  args: readonly string[],
): Promise<string> {
  return (await engine.mustDocker(['run', '-d', ...dockerOptions, IMAGE, ...args])).trim();
}

/** Waits for the container to serve on `port` inside `ns`, then checks its connection series. */
async function assertServes(
  engine: DockerEngine,
  ns: Namespace,
  id: string,
  port: number,
  expected: Map<string, number>,
): Promise<void> {
  const body = await served(engine, ns, id, `http://127.0.0.1:${port}/metrics`);
  const series = parseExposition(body);
  // Earlier scrapes of exporters on other ports linger in TIME_WAIT on loopback.
  const connections = new Map(
    [...pick(series, CONNECTIONS)].filter(([key]) => !key.includes('host="127.0.0.1"')),
  );
  assert.deepEqual(connections, expected);
  assert.equal(
    series.get(
      seriesKey('conntrack_exporter_scrape_collector_success', { collector: 'conntrack' }),
    ),
    1,
  );
}

/** The body of `url` once the container serves it inside `ns`; fails at once if the container stops. */
async function served(
  engine: DockerEngine,
  ns: Namespace,
  id: string,
  url: string,
): Promise<string> {
  return waitFor(
    async () => {
      const result = await ns.exec(['curl', '-sS', '--fail', '--max-time', '10', url]);
      if (result.code === 0) return result.stdout;
      const state = await engine.docker(['inspect', '-f', '{{.State.Running}}', id]);
      if (state.stdout.trim() !== 'true') {
        const logs = await engine.docker(['logs', id]);
        throw new Error(`the container stopped: ${logs.stdout}${logs.stderr}`);
      }
      return undefined;
    },
    30_000,
    url,
  );
}

async function containerPid(engine: DockerEngine, id: string): Promise<number> {
  return Number((await engine.mustDocker(['inspect', '-f', '{{.State.Pid}}', id])).trim());
}

function containerProcess(pid: number): ProcessStatus {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => new RegExp(`^${name}:\\s+(\\S+)`, 'm').exec(status)?.[1] ?? '';
  return {
    uid: field('Uid'),
    effective: BigInt(`0x${field('CapEff')}`),
    permitted: BigInt(`0x${field('CapPrm')}`),
  };
}
