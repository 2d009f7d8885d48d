/**
 * The Kubernetes manifests: valid YAML, and the fields that decide whether
 * the exporter works and how safely it runs. (The Docker test runs the image
 * with the same security settings, see packaging-docker.test.ts.)
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';

import { parse } from 'yaml';

import {
  findContainer,
  findObject,
  findWorkload,
  loadManifests,
  type Container,
  type PodSpec,
  type Workload,
} from '../helpers/manifests';

const CLI = path.join(__dirname, '..', '..', 'dist', 'cli.js');
const LONGTERM = path.join(__dirname, '..', '..', 'dist', 'bin', 'tcp-established-exporter.js');
const PORT = 9318;

/** The exporter's options, as its --help lists them. */
function knownOptions(): Set<string> {
  const help = execFileSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
  return new Set([...help.matchAll(/--([a-z][\w.-]*)/g)].map((match) => match[1]!));
}

function assertSelectsItsPods(workload: Workload): void {
  const labels = workload.spec.template.metadata.labels;
  for (const [key, value] of Object.entries(workload.spec.selector.matchLabels)) {
    assert.equal(labels[key], value, `selector ${key}=${value} does not match the pod template`);
  }
}

/** Unprivileged, CAP_NET_ADMIN only, as the image's user. */
function assertOnlyNetAdmin(pod: PodSpec, container: Container): void {
  const context = { ...pod.securityContext, ...container.securityContext };
  assert.notEqual(context.privileged, true);
  assert.equal(pod.securityContext?.runAsNonRoot, true);
  // The Dockerfile's USER: the image's file capability is made for it.
  assert.equal(context.runAsUser, 1000);
  assert.deepEqual(context.capabilities?.drop, ['ALL']);
  assert.deepEqual(context.capabilities?.add, ['NET_ADMIN']);
  // no_new_privs would make the kernel ignore the file capability.
  assert.equal(context.allowPrivilegeEscalation, true);
  assert.equal(context.readOnlyRootFilesystem, true);
}

function assertExporter(container: Container, options: Set<string>): void {
  const port = container.ports?.find((p) => p.name === 'metrics');
  assert.equal(port?.containerPort, PORT);
  for (const arg of container.args ?? []) {
    const name = /^--([^=]+)/.exec(arg)?.[1];
    assert.ok(name !== undefined && options.has(name), `unknown exporter option ${arg}`);
  }
  const { requests, limits } = container.resources ?? {};
  assert.ok(
    requests?.cpu && requests.memory && limits?.cpu && limits.memory,
    'requests and limits',
  );
  for (const probe of [container.readinessProbe, container.livenessProbe]) {
    // The landing page: cheap, and only served once the table could be read.
    assert.equal(probe?.httpGet?.path, '/');
    assert.equal(probe?.httpGet?.port, 'metrics');
  }
}

function assertScrapeAnnotations(annotations: Record<string, string> | undefined): void {
  // Strings: Kubernetes rejects annotation values of other types.
  assert.equal(annotations?.['prometheus.io/scrape'], 'true');
  assert.equal(annotations?.['prometheus.io/port'], String(PORT));
  assert.equal(annotations?.['prometheus.io/path'], '/metrics');
}

test('the DaemonSet: host network, NET_ADMIN only, resources, probes, scrape annotations', () => {
  const daemonset = findWorkload('daemonset.yaml', 'DaemonSet');
  assert.equal(daemonset.apiVersion, 'apps/v1');
  assertSelectsItsPods(daemonset);
  const pod = daemonset.spec.template.spec;
  assert.equal(pod.hostNetwork, true);
  assert.equal(pod.containers.length, 1);
  const container = findContainer(pod.containers, 'conntrack-exporter');
  assertOnlyNetAdmin(pod, container);
  assertExporter(container, knownOptions());
  assertScrapeAnnotations(daemonset.spec.template.metadata.annotations);
});

test('the ServiceMonitor finds the DaemonSet through its Service, one target per node', () => {
  const daemonset = findWorkload('daemonset.yaml', 'DaemonSet');
  const objects = loadManifests('service-monitor.yaml');
  const service = findObject(objects, 'Service');
  const monitor = findObject(objects, 'ServiceMonitor');
  const serviceSpec = service.spec as {
    clusterIP?: string;
    selector: Record<string, string>;
    ports: { name: string; port: number; targetPort: string }[];
  };
  const podLabels = daemonset.spec.template.metadata.labels;
  for (const [key, value] of Object.entries(serviceSpec.selector))
    assert.equal(podLabels[key], value);
  assert.equal(serviceSpec.clusterIP, 'None');
  assert.equal(service.metadata.namespace, daemonset.metadata.namespace);
  assert.equal(monitor.apiVersion, 'monitoring.coreos.com/v1');
  const monitorSpec = monitor.spec as {
    jobLabel?: string;
    selector: { matchLabels: Record<string, string> };
    namespaceSelector: { matchNames: string[] };
    endpoints: { port: string; path: string; relabelings?: { targetLabel: string }[] }[];
  };
  for (const [key, value] of Object.entries(monitorSpec.selector.matchLabels)) {
    assert.equal(service.metadata.labels?.[key], value);
  }
  assert.deepEqual(monitorSpec.namespaceSelector.matchNames, [daemonset.metadata.namespace]);
  // The job is named after this label's value, which alerts.yml expects.
  assert.equal(service.metadata.labels?.[monitorSpec.jobLabel ?? ''], 'conntrack-exporter');
  const [endpoint] = monitorSpec.endpoints;
  assert.equal(endpoint?.port, serviceSpec.ports[0]?.name);
  assert.equal(serviceSpec.ports[0]?.targetPort, 'metrics');
  assert.equal(endpoint?.path, '/metrics');
  assert.ok(endpoint?.relabelings?.some((rule) => rule.targetLabel === 'instance'));
});

/**
 * A sidecar Deployment: it selects its pods, shares the pod's network (not
 * the host's), turns tracking on in an init container from the same image,
 * and both hold CAP_NET_ADMIN only.
 */
function sidecarIn(file: string, name: string) {
  const deployment = findWorkload(file, 'Deployment');
  assertSelectsItsPods(deployment);
  const pod = deployment.spec.template.spec;
  assert.notEqual(pod.hostNetwork, true);
  const init = findContainer(pod.initContainers, 'enable-conntrack');
  assert.deepEqual(init.args, ['enable-tracking']);
  assertOnlyNetAdmin(pod, init);
  const sidecar = findContainer(pod.containers, name);
  assert.equal(sidecar.image, init.image);
  assertOnlyNetAdmin(pod, sidecar);
  return { deployment, pod, sidecar };
}

test("the sidecar shares the pod's network, turns tracking on first, NET_ADMIN only", () => {
  const { deployment, pod, sidecar } = sidecarIn('sidecar.yaml', 'conntrack-exporter');
  assertExporter(sidecar, knownOptions());
  assert.ok(pod.containers.length >= 2, 'an app container beside the sidecar');
  assertScrapeAnnotations(deployment.spec.template.metadata.annotations);
});

test("the long-term sidecar: tcp_established_exporter --simple=true in the pod's network", () => {
  const { deployment, sidecar } = sidecarIn('longterm-sidecar.yaml', 'longterm-exporter');
  // The entrypoint's first argument names the command (see entrypoint.sh).
  const [command, ...flags] = sidecar.args ?? [];
  assert.equal(command, 'tcp_established_exporter');
  assert.deepEqual(flags, ['--simple=true']);
  const usage = spawnSync(process.execPath, [LONGTERM, '-h'], { encoding: 'utf8' });
  const known = new Set(
    [...(usage.stdout + usage.stderr).matchAll(/^ {2}-(\w+)/gm)].map((match) => match[1]!),
  );
  for (const flag of flags) {
    const name = /^--?([^=]+)/.exec(flag)?.[1];
    assert.ok(name !== undefined && known.has(name), `unknown flag ${flag}`);
  }
  // The original's port, where the annotations and the probes look.
  const port = sidecar.ports?.find((p) => p.name === 'metrics')?.containerPort;
  assert.equal(port, 9690);
  const annotations = deployment.spec.template.metadata.annotations;
  assert.equal(annotations?.['prometheus.io/port'], '9690');
  assert.equal(annotations?.['prometheus.io/path'], '/metrics');
  for (const probe of [sidecar.readinessProbe, sidecar.livenessProbe]) {
    assert.equal(probe?.httpGet?.port, 'metrics');
    assert.equal(probe?.httpGet?.path, '/metrics');
  }
  const { requests, limits } = sidecar.resources ?? {};
  assert.ok(requests?.cpu && requests.memory && limits?.cpu && limits.memory);
});

test('the DaemonSet: an opt-in init container, commented out, sets nf_conntrack_events=1', () => {
  const text = readFileSync(
    path.join(__dirname, '..', '..', 'deploy', 'kubernetes', 'daemonset.yaml'),
    'utf8',
  );
  // Off as shipped.
  assert.equal(
    findWorkload('daemonset.yaml', 'DaemonSet').spec.template.spec.initContainers,
    undefined,
  );
  // Uncommented as the comment says, it is a valid pod spec entry.
  const block = /^ {6}# initContainers:\n(?: {6}# {3}.*\n)+/m.exec(text)?.[0];
  assert.ok(block, 'the commented-out initContainers block');
  const uncommented = block.replace(/^( {6})# /gm, '$1');
  const pod = parse(`spec:\n${uncommented}`) as { spec: { initContainers: Container[] } };
  const [init, ...more] = pod.spec.initContainers;
  assert.equal(more.length, 0);
  assert.deepEqual(init?.command, ['sysctl', '-w', 'net.netfilter.nf_conntrack_events=1']);
  assert.equal(init?.securityContext?.privileged, true);
  assert.equal(init?.securityContext?.runAsUser, 0);
  assert.ok(init?.resources?.limits?.cpu && init.resources.limits.memory);
});

test('the same image in every manifest', () => {
  const images = new Set(
    ['daemonset.yaml', 'sidecar.yaml', 'longterm-sidecar.yaml'].flatMap((file) => {
      const pod = findWorkload(file, file === 'daemonset.yaml' ? 'DaemonSet' : 'Deployment').spec
        .template.spec;
      return [...(pod.initContainers ?? []), ...pod.containers]
        .filter((container) => container.name !== 'app')
        .map((container) => container.image);
    }),
  );
  assert.equal(images.size, 1, [...images].join(', '));
});
