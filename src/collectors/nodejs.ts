import type * as PromClient from 'prom-client';

type DefaultMetric = (registry: PromClient.Registry, config: object) => void;

// prom-client's default metrics that describe the Node runtime (event loop
// lag, handles, heap, GC, version). Its process_* ones are left out:
// src/collectors/process.ts serves those for every command.
/* eslint-disable @typescript-eslint/no-require-imports */
const RUNTIME_METRICS: readonly DefaultMetric[] = [
  require('prom-client/lib/metrics/eventLoopLag'),
  require('prom-client/lib/metrics/processResources'),
  require('prom-client/lib/metrics/processHandles'),
  require('prom-client/lib/metrics/processRequests'),
  require('prom-client/lib/metrics/heapSizeAndUsed'),
  require('prom-client/lib/metrics/heapSpacesSizeAndUsed'),
  require('prom-client/lib/metrics/version'),
  require('prom-client/lib/metrics/gc'),
];
/* eslint-enable @typescript-eslint/no-require-imports */

/**
 * Gauges named like counters, which promtool rejects; each is the sum of
 * its family's per-type gauge (nodejs_active_handles{type} and so on).
 */
const MISNAMED = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** The nodejs_* families, as prom-client's collectDefaultMetrics registers them. */
export function registerNodejsMetrics(registry: PromClient.Registry): void {
  for (const register of RUNTIME_METRICS) register(registry, { eventLoopMonitoringPrecision: 10 });
  for (const name of MISNAMED) registry.removeSingleMetric(name);
}
