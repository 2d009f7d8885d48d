/**
 * A fleet on one machine: two hosts, each running the exporter, both talking
 * to a database host, and one real Prometheus server scraping both with the
 * shipped configuration (deploy/prometheus/prometheus.yml, alerts.yml). The
 * answers users get through PromQL, per machine, per state and summed over
 * the fleet, are checked through Prometheus' HTTP API, and so is every query
 * of the shipped Grafana dashboard, and two alerts: on real failed
 * connections, and on a full table that makes the kernel evict entries.
 *
 * Four namespaces on one bridge (inside the Prometheus namespace, so nothing
 * is created in the root namespace):
 *
 *   web-1 198.51.100.11 --+
 *   web-2 198.51.100.12 --+-- br0 in "prometheus" 198.51.100.1
 *   db    198.51.100.20 --+
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { promisify } from 'node:util';

import { parse, stringify } from 'yaml';

import { missingComponent, missingProgram } from '../helpers/components';
import { fillerFlows, insertEntries } from '../helpers/conntrack-load';
import { startExporter } from '../helpers/exporter';
import { shippedAlertRules } from '../helpers/manifests';
import { createNamespace, keepTimeWait, waitFor, type DisposableNamespace } from '../helpers/netns';
import { connectRefused, startActor } from '../helpers/tcp-actor';

const ROOT = path.join(__dirname, '..', '..');
const PROMETHEUS_DIR = path.join(ROOT, 'deploy', 'prometheus');
const DASHBOARD = path.join(ROOT, 'deploy', 'grafana', 'conntrack-exporter.json');
const PROMETHEUS_URL = 'http://127.0.0.1:9090';
const SUBNET = '198.51.100';
const WEB_1 = `${SUBNET}.11`;
const WEB_2 = `${SUBNET}.12`;
const DB = `${SUBNET}.20`;
const JOB = 'conntrack-exporter';
const KUBERNETES_JOB = 'kubernetes-pods';
const SCRAPE_INTERVAL = '5s';

const run = promisify(execFile);

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

interface QueryResponse {
  status: string;
  error?: string;
  data: { resultType: string; result: Sample[] };
}

interface DashboardPanel {
  title: string;
  targets?: { expr: string }[];
}

test(
  'one Prometheus scraping exporters on two hosts answers per host, per state and for the fleet',
  { timeout: 5 * 60_000 },
  async (t) => {
    if (missingComponent(t, missingProgram('prometheus', 'apt-get install prometheus'))) return;
    const [prometheus, web1, web2, db] = await Promise.all([
      createNamespace(t),
      createNamespace(t),
      createNamespace(t),
      createNamespace(t),
    ]);
    await joinBridge(prometheus, [
      [prometheus, `${SUBNET}.1`],
      [web1, WEB_1],
      [web2, WEB_2],
      [db, DB],
    ]);

    // What each host does: web-1 and web-2 hold connections to the
    // database, web-2 also closed one (TIME_WAIT) and calls web-1's API.
    await startActor(db, { mode: 'listen', address: DB, port: 5432 });
    await keepTimeWait(db, 5432);
    await startActor(db, { mode: 'listen', address: DB, port: 6379 });
    const api = await startActor(web1, { mode: 'listen', address: WEB_1, port: 8080 });
    await startActor(web1, { mode: 'connect', host: DB, port: 5432, count: 3 });
    await startActor(web1, { mode: 'connect', host: DB, port: 6379, count: 1 });
    await startActor(web2, { mode: 'connect', host: DB, port: 5432, count: 2 });
    await startActor(web2, { mode: 'connect', host: DB, port: 5432, outcome: 'timewait' });
    await startActor(web2, { mode: 'connect', host: WEB_1, port: 8080, count: 2 });
    await api.waitForSockets(2);

    await startExporter(web1, ['--no-resolve-hosts', '--collector.link-health']);
    await startExporter(web2, ['--no-resolve-hosts', '--collector.link-health']);

    const work = mkdtempSync(path.join(os.tmpdir(), 'cte-prometheus-'));
    t.after(() => rmSync(work, { recursive: true, force: true }));
    const config = path.join(work, 'prometheus.yml');
    writeFileSync(config, fleetConfig([`${WEB_1}:9318`, `${WEB_2}:9318`]));
    const server = prometheus.spawn([
      'prometheus',
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(work, 'data')}`,
      '--web.listen-address=127.0.0.1:9090',
    ]);
    let log = '';
    server.stderr?.setEncoding('utf8');
    server.stderr?.on('data', (chunk: string) => (log = (log + chunk).slice(-20_000)));
    server.stdout?.resume();

    const query = async (promql: string): Promise<QueryResponse> => {
      const result = await prometheus.exec([
        ...['curl', '-sS', '--max-time', '10', '--get', `${PROMETHEUS_URL}/api/v1/query`],
        ...['--data-urlencode', `query=${promql}`],
      ]);
      if (result.code !== 0) throw new Error(`query failed: ${result.stderr}\n${log}`);
      return JSON.parse(result.stdout) as QueryResponse;
    };
    const values = async (promql: string, by: string): Promise<Record<string, number>> => {
      const response = await query(promql);
      assert.equal(response.status, 'success', `${promql}: ${response.error}`);
      return Object.fromEntries(
        response.data.result.map((sample) => [sample.metric[by] ?? '', Number(sample.value[1])]),
      );
    };

    /** Does what makes the alert hold, again and again, until Prometheus has it pending. */
    const pendingAlert = (name: string, provoke: () => Promise<unknown>): Promise<Sample[]> =>
      waitFor(
        async () => {
          await provoke();
          const response = await query(`ALERTS{alertname="${name}"}`);
          return response.data.result.length > 0 && response.data.result;
        },
        120_000,
        `${name} to be pending`,
      );

    await waitFor(
      async () => {
        if (server.exitCode !== null) throw new Error(`prometheus exited: ${log}`);
        const ready = await prometheus.exec(['curl', '-s', '--fail', `${PROMETHEUS_URL}/-/ready`]);
        return ready.code === 0;
      },
      30_000,
      'prometheus to be ready',
    );
    // Two scrapes of each exporter, both successful.
    await waitFor(
      async () => {
        const scrapes = await values(`sum_over_time(up{job="${JOB}"}[1m])`, 'instance');
        return (scrapes[WEB_1] ?? 0) >= 2 && (scrapes[WEB_2] ?? 0) >= 2;
      },
      60_000,
      'two successful scrapes of each exporter',
    );

    await t.test('per machine: each host its own connections to the database', async () => {
      const open = await values(
        `conntrack_open_connections{job="${JOB}", host="${DB}", port="5432", direction="outbound"}`,
        'instance',
      );
      assert.deepEqual(open, { [WEB_1]: 3, [WEB_2]: 2 });
      const redis = await values(
        `conntrack_open_connections{host="${DB}", port="6379"}`,
        'instance',
      );
      assert.deepEqual(redis, { [WEB_1]: 1 });
    });

    await t.test('per state: the closed connection is closing on web-2 only', async () => {
      const closing = await values(
        `sum by (instance) (conntrack_closing_connections{host="${DB}"})`,
        'instance',
      );
      assert.deepEqual(closing, { [WEB_1]: 0, [WEB_2]: 1 });
      const opening = await values(
        `sum by (instance) (conntrack_opening_connections{job="${JOB}"})`,
        'instance',
      );
      assert.deepEqual(opening, { [WEB_1]: 0, [WEB_2]: 0 });
    });

    await t.test('summed across the fleet, and both ends of a call inside it', async () => {
      assert.deepEqual(
        await values(`sum(conntrack_open_connections{host="${DB}", port="5432"})`, ''),
        { '': 5 },
      );
      assert.deepEqual(
        await values(`sum by (host) (conntrack_open_connections{direction="outbound"})`, 'host'),
        { [DB]: 6, [WEB_1]: 2 },
      );
      // web-2's two calls to web-1:8080, seen by both machines.
      assert.deepEqual(
        await values(
          `sum by (instance, direction) (conntrack_open_connections{port="8080"})`,
          'direction',
        ),
        { inbound: 2, outbound: 2 },
      );
      assert.deepEqual(await values(`count(up{job="${JOB}"} == 1)`, ''), { '': 2 });
    });

    await t.test('the shipped alerting rules load, evaluate, and none holds', async () => {
      type Rule = { name: string; query: string; health: string; lastError?: string };
      const rules = await waitFor(
        async () => {
          const response = JSON.parse(
            (await prometheus.exec(['curl', '-sS', `${PROMETHEUS_URL}/api/v1/rules`])).stdout,
          ) as { data: { groups: { rules: Rule[] }[] } };
          const all = response.data.groups.flatMap((group) => group.rules);
          assert.deepEqual(
            all.filter((rule) => rule.health === 'err'),
            [],
          );
          return all.length > 0 && all.every((rule) => rule.health === 'ok') && all;
        },
        30_000,
        'every rule evaluated',
      );
      assert.equal(rules.length, shippedAlertRules(), JSON.stringify(rules));
      // Nothing is wrong in this fleet: no rule's expression holds now (a
      // firing alert could not show yet: each waits minutes), and none is
      // pending from an earlier evaluation.
      for (const rule of rules) {
        const response = await query(rule.query);
        assert.equal(response.status, 'success', `${rule.name}: ${response.error}`);
        assert.deepEqual(response.data.result, [], rule.name);
      }
      assert.deepEqual((await query('ALERTS')).data.result, []);
    });

    await t.test('connects refused by the database make ConntrackLinkFailing pending', async () => {
      // Nothing listens on 5433: every connect from web-1 is refused, one
      // after another, until the rule holds (its increase needs the
      // failures to grow across scrapes).
      const pending = await pendingAlert('ConntrackLinkFailing', () =>
        connectRefused(web1, DB, 5433),
      );
      assert.deepEqual(
        pending.map((sample) => sample.metric),
        [
          {
            __name__: 'ALERTS',
            alertname: 'ConntrackLinkFailing',
            alertstate: 'pending',
            severity: 'warning',
            job: JOB,
            instance: WEB_1,
            host: DB,
            port: '5433',
          },
        ],
      );
      const refused = await values(
        `conntrack_connection_failures_total{host="${DB}", port="5433", reason="refused"}`,
        'instance',
      );
      assert.deepEqual(Object.keys(refused), [WEB_1]);
      assert.ok((refused[WEB_1] ?? 0) >= 3, `${refused[WEB_1]} refused`);
    });

    await t.test('every query of the Grafana dashboard is valid PromQL, and answers', async () => {
      const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: DashboardPanel[] };
      const answered = new Map<string, number>();
      for (const panel of dashboard.panels) {
        for (const target of panel.targets ?? []) {
          const expr = target.expr
            .replace(/\$__rate_interval/g, '1m')
            .replace(/\$(job|instance|host)\b/g, '.*');
          const response = await query(expr);
          assert.equal(response.status, 'success', `${panel.title}: ${expr}: ${response.error}`);
          answered.set(panel.title, (answered.get(panel.title) ?? 0) + response.data.result.length);
        }
      }
      // The panels over metrics every exporter has show data for this fleet.
      for (const title of [
        'Exporters up',
        'Open connections',
        'Open connections by machine and remote host',
        'Connections by state',
        'Table usage',
        'Table read success',
        'Versions',
        'Failed connections per second by host and reason',
      ]) {
        assert.ok((answered.get(title) ?? 0) > 0, `panel "${title}" has no data`);
      }
    });

    await t.test('a full table on web-2 makes ConntrackTableDropping pending', async () => {
      // nf_conntrack_max is the whole kernel's; web-2's table is filled to it
      // with entries that never completed a handshake (not ASSURED), which
      // the kernel evicts to make room: each new connection from web-2 then
      // costs one early_drop, and the exporter's own scrapes still pass.
      const read = async (name: string) =>
        Number((await web2.exec(['cat', `/proc/sys/net/netfilter/${name}`])).stdout);
      const [max, held] = [await read('nf_conntrack_max'), await read('nf_conntrack_count')];
      await insertEntries(web2, fillerFlows(max - held, '192.0.2.1'));
      const pending = await pendingAlert('ConntrackTableDropping', async () => {
        // A new connection to the database: room is made for it by evicting.
        const connect = await web2.exec(['bash', '-c', `exec 3<>/dev/tcp/${DB}/5432`]);
        assert.equal(connect.code, 0, connect.stderr);
      });
      assert.deepEqual(
        pending.map((sample) => sample.metric),
        [
          {
            __name__: 'ALERTS',
            alertname: 'ConntrackTableDropping',
            alertstate: 'pending',
            severity: 'critical',
            job: JOB,
            instance: WEB_2,
          },
        ],
      );
      const evicted = await values(
        `conntrack_kernel_stat_early_drop_total{job="${JOB}"}`,
        'instance',
      );
      assert.deepEqual(Object.keys(evicted).sort(), [WEB_1, WEB_2]);
      assert.equal(evicted[WEB_1], 0);
      assert.ok((evicted[WEB_2] ?? 0) > 0, `${evicted[WEB_2]} early drops on web-2`);
    });

    await t.test(
      'the Kubernetes scrape job turns pod metadata into instance, pod and namespace',
      async () => {
        // Debian's Prometheus has no Kubernetes discovery: the metadata it
        // would find is given as static labels, and the shipped relabelling
        // does the rest. Added last, by a reload, so earlier answers stay per job.
        writeFileSync(config, fleetConfig([`${WEB_1}:9318`, `${WEB_2}:9318`], true));
        server.kill('SIGHUP');
        const targets = await waitFor(
          async () => {
            const response = JSON.parse(
              (await prometheus.exec(['curl', '-sS', `${PROMETHEUS_URL}/api/v1/targets`])).stdout,
            ) as {
              data: {
                activeTargets: {
                  scrapePool: string;
                  health: string;
                  labels: Record<string, string>;
                }[];
                droppedTargets: { discoveredLabels: Record<string, string> }[];
              };
            };
            const pool = response.data.activeTargets.filter(
              (target) => target.scrapePool === KUBERNETES_JOB,
            );
            return pool.length === 2 && pool.every((target) => target.health === 'up')
              ? { active: pool, dropped: response.data.droppedTargets }
              : undefined;
          },
          60_000,
          'the Kubernetes job to scrape its two pods',
        );
        const labels = targets.active
          .map(({ labels: { instance, pod, namespace } }) => ({ instance, pod, namespace }))
          .sort((a, b) => String(a.instance).localeCompare(String(b.instance)));
        assert.deepEqual(labels, [
          // The DaemonSet's pod stands for its node, the sidecar for its pod.
          { instance: 'my-app-7d4b9c-x2x9z', pod: 'my-app-7d4b9c-x2x9z', namespace: 'shop' },
          { instance: 'node-a', pod: 'conntrack-exporter-5xk2p', namespace: 'monitoring' },
        ]);
        // The app container's port of the sidecar's pod is not scraped.
        assert.ok(
          targets.dropped.some(
            (target) =>
              target.discoveredLabels.__meta_kubernetes_pod_container_port_name === 'http',
          ),
        );
      },
    );
  },
);

interface ScrapeConfig {
  job_name: string;
  scrape_timeout?: string;
  static_configs?: { targets: string[]; labels?: Record<string, string> }[];
  kubernetes_sd_configs?: unknown;
}

/**
 * The shipped prometheus.yml, scraping `targets` every second, with the
 * shipped rules; with `kubernetes`, also the shipped Kubernetes job (under
 * another name) over what pod discovery would find for a DaemonSet pod on
 * the first target and a sidecar's pod on the second.
 */
function fleetConfig(targets: string[], kubernetes = false): string {
  const config = parse(readFileSync(path.join(PROMETHEUS_DIR, 'prometheus.yml'), 'utf8')) as {
    global: Record<string, string>;
    rule_files: string[];
    scrape_configs: ScrapeConfig[];
  };
  // Scrapes as long as a loaded machine may need: a timed-out scrape makes
  // up 0 and every series stale until the next one.
  config.global.scrape_interval = SCRAPE_INTERVAL;
  config.global.evaluation_interval = '1s';
  config.rule_files = config.rule_files.map((file) => path.join(PROMETHEUS_DIR, file));
  const job = config.scrape_configs.find((scrape) => scrape.job_name === JOB);
  assert.ok(job, `prometheus.yml has no job ${JOB}`);
  job.static_configs = [{ targets }];
  // Prometheus refuses a timeout longer than the interval.
  job.scrape_timeout = SCRAPE_INTERVAL;
  if (kubernetes) {
    const shipped = parse(
      readFileSync(path.join(PROMETHEUS_DIR, 'kubernetes-scrape-config.yml'), 'utf8'),
    ) as { scrape_configs: ScrapeConfig[] };
    const pods = shipped.scrape_configs[0];
    assert.ok(pods?.kubernetes_sd_configs, 'the Kubernetes job discovers pods');
    delete pods.kubernetes_sd_configs;
    const pod = (name: string, namespace: string, kind: string, port: string) => ({
      __meta_kubernetes_pod_annotation_prometheus_io_scrape: 'true',
      __meta_kubernetes_pod_annotation_prometheus_io_path: '/metrics',
      __meta_kubernetes_pod_container_port_name: port,
      __meta_kubernetes_pod_node_name: 'node-a',
      __meta_kubernetes_pod_controller_kind: kind,
      __meta_kubernetes_pod_name: name,
      __meta_kubernetes_namespace: namespace,
    });
    const sidecar = 'my-app-7d4b9c-x2x9z';
    pods.job_name = KUBERNETES_JOB;
    pods.scrape_timeout = SCRAPE_INTERVAL;
    pods.static_configs = [
      {
        targets: [targets[0]!],
        labels: pod('conntrack-exporter-5xk2p', 'monitoring', 'DaemonSet', 'metrics'),
      },
      { targets: [targets[1]!], labels: pod(sidecar, 'shop', 'ReplicaSet', 'metrics') },
      { targets: [`${DB}:8080`], labels: pod(sidecar, 'shop', 'ReplicaSet', 'http') },
    ];
    config.scrape_configs.push(pods);
  }
  return stringify(config);
}

/** A bridge in `hub`'s namespace with every namespace attached at its address (/24). */
async function joinBridge(
  hub: DisposableNamespace,
  members: [DisposableNamespace, string][],
): Promise<void> {
  const ip = (ns: DisposableNamespace, ...args: string[]) => run('ip', ['-n', ns.name, ...args]);
  await ip(hub, 'link', 'add', 'br0', 'type', 'bridge');
  await ip(hub, 'link', 'set', 'br0', 'up');
  for (const [index, [ns, address]] of members.entries()) {
    if (ns === hub) {
      await ip(hub, 'addr', 'add', `${address}/24`, 'dev', 'br0');
      continue;
    }
    // Created inside the namespaces: nothing appears in the root namespace.
    const port = `port${index}`;
    await run('ip', [
      ...['link', 'add', 'eth0', 'netns', ns.name, 'type', 'veth'],
      ...['peer', 'name', port, 'netns', hub.name],
    ]);
    await ip(hub, 'link', 'set', port, 'master', 'br0', 'up');
    await ip(ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    await ip(ns, 'link', 'set', 'eth0', 'up');
  }
  for (const [ns] of members) {
    if (ns === hub) continue;
    await waitFor(
      async () => (await ip(ns, '-o', 'link', 'show', 'dev', 'eth0')).stdout.includes(' state UP '),
      5_000,
      `carrier in ${ns.name}`,
    );
  }
}
