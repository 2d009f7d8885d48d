/**
 * The Kubernetes manifests under deploy/kubernetes, parsed, with the fields
 * the tests look at typed, and their security settings turned into the
 * `docker run` flags that give a container the same privileges, so the
 * Docker test runs the image exactly as the manifests would.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { parse, parseAllDocuments } from 'yaml';

export const KUBERNETES_DIR = path.join(__dirname, '..', '..', 'deploy', 'kubernetes');

/** How many alerting rules deploy/prometheus/alerts.yml ships: what a Prometheus that loaded it has. */
export function shippedAlertRules(): number {
  const file = path.join(__dirname, '..', '..', 'deploy', 'prometheus', 'alerts.yml');
  const alerts = parse(readFileSync(file, 'utf8')) as { groups: { rules: unknown[] }[] };
  return alerts.groups.flatMap((group) => group.rules).length;
}

export interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: { type?: string };
}

export interface Probe {
  httpGet?: { path?: string; port?: string | number };
  periodSeconds?: number;
  timeoutSeconds?: number;
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  securityContext?: SecurityContext;
  resources?: {
    requests?: { cpu?: string; memory?: string };
    limits?: { cpu?: string; memory?: string };
  };
  readinessProbe?: Probe;
  livenessProbe?: Probe;
}

export interface PodSpec {
  hostNetwork?: boolean;
  securityContext?: SecurityContext;
  initContainers?: Container[];
  containers: Container[];
}

export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  // The rest differs per kind; tests narrow it with the interfaces above.
  spec?: Record<string, unknown>;
}

export interface Workload extends KubernetesObject {
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
      spec: PodSpec;
    };
  };
}

/** Every document of a manifest file; throws on YAML errors and warnings. */
export function loadManifests(file: string): KubernetesObject[] {
  const text = readFileSync(path.join(KUBERNETES_DIR, file), 'utf8');
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0 || doc.warnings.length > 0) {
      throw new Error(
        `${file}: ${[...doc.errors, ...doc.warnings].map((e) => e.message).join('; ')}`,
      );
    }
    return doc.toJS() as KubernetesObject;
  });
}

export function findObject(objects: KubernetesObject[], kind: string): KubernetesObject {
  const found = objects.find((object) => object.kind === kind);
  if (found === undefined)
    throw new Error(`no ${kind} among ${objects.map((o) => o.kind).join(', ')}`);
  return found;
}

export function findWorkload(file: string, kind: 'DaemonSet' | 'Deployment'): Workload {
  return findObject(loadManifests(file), kind) as Workload;
}

export function findContainer(containers: Container[] | undefined, name: string): Container {
  const found = containers?.find((container) => container.name === name);
  if (found === undefined) throw new Error(`no container ${name}`);
  return found;
}

/** `docker run` flags giving a container what `container` in `pod` would have. */
export function dockerSecurityFlags(pod: PodSpec, container: Container): string[] {
  const context = { ...pod.securityContext, ...container.securityContext };
  const flags: string[] = [];
  if (context.runAsUser !== undefined) {
    flags.push(`--user=${context.runAsUser}:${context.runAsGroup ?? context.runAsUser}`);
  }
  if (context.privileged) flags.push('--privileged');
  if (context.allowPrivilegeEscalation === false) flags.push('--security-opt=no-new-privileges');
  if (context.readOnlyRootFilesystem) flags.push('--read-only');
  for (const cap of context.capabilities?.drop ?? []) flags.push(`--cap-drop=${cap}`);
  for (const cap of context.capabilities?.add ?? []) flags.push(`--cap-add=${cap}`);
  if (pod.hostNetwork) flags.push('--net=host');
  return flags;
}
