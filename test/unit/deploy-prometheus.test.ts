/**
 * The Prometheus side: alerting rules (promtool check and unit tests), the
 * scrape configurations, and the Grafana dashboard, all naming metrics the
 * exporter has and the one job name the alerts expect.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';

import { parse } from 'yaml';
import { missingComponent } from '../helpers/components';

const DEPLOY = path.join(__dirname, '..', '..', 'deploy');
const PROMETHEUS = path.join(DEPLOY, 'prometheus');
const JOB = 'conntrack-exporter';
// The exporter's metric names (README), and Prometheus' own per-target ones.
const METRICS = new Set([
  'conntrack_opening_connections',
  'conntrack_open_connections',
  'conntrack_closing_connections',
  'conntrack_closed_connections',
  'conntrack_connections_opened_total',
  'conntrack_connections_closed_total',
  'conntrack_sent_bytes_total',
  'conntrack_received_bytes_total',
  'conntrack_connection_failures_total',
  'conntrack_connect_duration_seconds_bucket',
  'conntrack_connect_duration_seconds_count',
  'conntrack_connection_lifetime_seconds_sum',
  'conntrack_connection_lifetime_seconds_count',
  'conntrack_connection_lifetime_by_port_seconds_bucket',
  'conntrack_connection_lifetime_by_port_seconds_count',
  'conntrack_longterm_connections',
  'conntrack_table_entries',
  'conntrack_table_entries_limit',
  'conntrack_kernel_stat_drop_total',
  'conntrack_kernel_stat_early_drop_total',
  'conntrack_kernel_stat_insert_failed_total',
  'conntrack_kernel_stat_chaintoolong_total',
  'conntrack_exporter_scrape_collector_success',
  'conntrack_exporter_scrape_collector_duration_seconds',
  'conntrack_exporter_build_info',
  'up',
  'scrape_duration_seconds',
]);
const HAS_PROMTOOL = spawnSync('promtool', ['--version']).status === 0;
const SKIP = HAS_PROMTOOL ? false : 'promtool not installed (apt-get install prometheus)';

function promtool(...args: string[]): void {
  const result = spawnSync('promtool', args, { encoding: 'utf8', cwd: PROMETHEUS });
  assert.equal(result.status, 0, `promtool ${args.join(' ')}:\n${result.stdout}${result.stderr}`);
}

/**
 * The metric names an expression uses: every identifier with the exporter's
 * prefix (so a misspelt one is caught), and Prometheus' own per-target ones.
 */
function metricNames(expr: string): string[] {
  const withoutStrings = expr.replace(/"[^"]*"/g, '""');
  return [...withoutStrings.matchAll(/\b(conntrack_\w+|up|scrape_duration_seconds)\b/g)].map(
    (match) => match[1]!,
  );
}

test('promtool accepts the alerting rules, and their unit tests pass', (t) => {
  if (missingComponent(t, SKIP)) return;
  promtool('check', 'rules', 'alerts.yml');
  promtool('test', 'rules', 'alerts.test.yml');
});

test('the alerts cover down, failing reads, a full or dropping table, a watched link and a failing link', () => {
  const rules = parse(readFileSync(path.join(PROMETHEUS, 'alerts.yml'), 'utf8')) as {
    groups: { rules: { alert: string; expr: string; labels: { severity: string } }[] }[];
  };
  const alerts = rules.groups.flatMap((group) => group.rules);
  assert.deepEqual(alerts.map((rule) => rule.alert).sort(), [
    'ConntrackExporterAbsent',
    'ConntrackExporterDown',
    'ConntrackLinkFailing',
    'ConntrackReadFailing',
    'ConntrackTableDropping',
    'ConntrackTableNearlyFull',
    'ConntrackWatchedLinkDown',
  ]);
  for (const rule of alerts) {
    for (const name of metricNames(rule.expr))
      assert.ok(METRICS.has(name), `${rule.alert}: ${name}`);
    if (rule.expr.includes('up{')) assert.match(rule.expr, new RegExp(`job="${JOB}"`));
    assert.ok(['warning', 'critical'].includes(rule.labels.severity));
  }
});

test('promtool accepts the scrape configurations; all name the job the alerts expect', (t) => {
  if (missingComponent(t, SKIP)) return;
  promtool('check', 'config', 'prometheus.yml');
  const kubernetes = readFileSync(path.join(PROMETHEUS, 'kubernetes-scrape-config.yml'), 'utf8');
  // Debian's Prometheus is built without Kubernetes discovery; the rest of
  // the job (its relabelling above all) is checked with a static target.
  const work = mkdtempSync(path.join(os.tmpdir(), 'cte-promtool-'));
  try {
    const file = path.join(work, 'kubernetes.yml');
    writeFileSync(
      file,
      kubernetes.replace(
        /kubernetes_sd_configs:\n\s*- role: pod/,
        'static_configs:\n      - targets: [127.0.0.1:9318]',
      ),
    );
    assert.match(readFileSync(file, 'utf8'), /static_configs/);
    promtool('check', 'config', file);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  for (const file of ['prometheus.yml', 'kubernetes-scrape-config.yml']) {
    const config = parse(readFileSync(path.join(PROMETHEUS, file), 'utf8')) as {
      scrape_configs: { job_name: string }[];
    };
    assert.deepEqual(
      config.scrape_configs.map((job) => job.job_name),
      [JOB],
      file,
    );
  }
});

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: { expr: string; refId: string }[];
}

test('the Grafana dashboard: every section, known metrics, defined variables', () => {
  const text = readFileSync(path.join(DEPLOY, 'grafana', 'conntrack-exporter.json'), 'utf8');
  const dashboard = JSON.parse(text) as {
    uid: string;
    title: string;
    panels: Panel[];
    templating: { list: { name: string; type: string; definition?: string }[] };
  };
  assert.equal(dashboard.uid, 'conntrack-exporter');
  const ids = dashboard.panels.map((panel) => panel.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  const variables = new Set(dashboard.templating.list.map((variable) => variable.name));
  const used = new Set<string>();
  for (const variable of dashboard.templating.list) {
    for (const name of metricNames(variable.definition ?? '')) {
      assert.ok(METRICS.has(name), `variable ${variable.name}: unknown metric ${name}`);
    }
  }
  for (const panel of dashboard.panels) {
    assert.ok(panel.gridPos.x + panel.gridPos.w <= 24, `${panel.title} is wider than the grid`);
    if (panel.type === 'row') continue;
    assert.equal(panel.datasource?.uid, '${datasource}', panel.title);
    assert.ok((panel.targets ?? []).length > 0, `${panel.title} has no query`);
    for (const target of panel.targets ?? []) {
      for (const name of metricNames(target.expr.replace(/\$__rate_interval/g, '1m'))) {
        assert.ok(METRICS.has(name), `${panel.title}: unknown metric ${name}`);
        used.add(name);
      }
      for (const match of target.expr.matchAll(/\$(\w+)/g)) {
        if (match[1] !== '__rate_interval') assert.ok(variables.has(match[1]!), `$${match[1]}`);
      }
    }
  }
  // Connections by host and state, opened/closed rates, link health, top
  // peers by traffic, long-term connections, table usage and drops, and
  // exporter health.
  for (const name of [
    'conntrack_opening_connections',
    'conntrack_open_connections',
    'conntrack_closing_connections',
    'conntrack_closed_connections',
    'conntrack_connections_opened_total',
    'conntrack_connections_closed_total',
    'conntrack_sent_bytes_total',
    'conntrack_received_bytes_total',
    'conntrack_connection_failures_total',
    'conntrack_connect_duration_seconds_bucket',
    'conntrack_connection_lifetime_seconds_sum',
    'conntrack_connection_lifetime_by_port_seconds_bucket',
    'conntrack_longterm_connections',
    'conntrack_table_entries_limit',
    'conntrack_kernel_stat_drop_total',
    'conntrack_kernel_stat_early_drop_total',
    'conntrack_exporter_scrape_collector_success',
    'up',
  ]) {
    assert.ok(used.has(name), `no panel shows ${name}`);
  }
});

test('the Grafana provisioning files for docker-compose parse', () => {
  for (const file of ['datasources/prometheus.yml', 'dashboards/conntrack-exporter.yml']) {
    const config = parse(
      readFileSync(path.join(DEPLOY, 'grafana', 'provisioning', file), 'utf8'),
    ) as {
      apiVersion: number;
    };
    assert.equal(config.apiVersion, 1, file);
  }
});
