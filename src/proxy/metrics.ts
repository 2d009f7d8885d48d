import { scrapeCounter } from '../collectors/scrape-time';
import { Counter, Gauge, type Registry } from './prom-client';
import { metricDefiners } from './metric-definers';
import { registerProcessMetrics } from '../collectors/process';
import type { ScrapeInstruments } from './metrics-server';
import { DIAL_FAILURE_REASONS, type ProxyTraffic } from './traffic';

export const METRIC_PREFIX = 'conntrack_exporter_proxy_';

/**
 * The proxy mode's metrics under conventional names: prefixed, base units,
 * `_total` on counters, sent and received as separate metrics, and the
 * process `id` on every series so restarts and replicas stay apart.
 */
export function registerProxyMetrics(
  registry: Registry,
  traffic: ProxyTraffic,
  id: string,
): ScrapeInstruments {
  const labels = { id };
  const registers = [registry];
  const { gauge, counter } = metricDefiners(registry, id);
  const p = METRIC_PREFIX;

  gauge(
    p + 'active_inbound_connections',
    'Client connections open now.',
    () => traffic.activeInbound,
  );
  gauge(
    p + 'active_outbound_connections',
    'Connections to the target open now.',
    () => traffic.activeOutbound,
  );
  counter(p + 'connections_accepted_total', 'Client connections accepted.', () => traffic.accepted);
  counter(
    p + 'connections_dialed_total',
    'Connections to the target established.',
    () => traffic.dialed,
  );
  scrapeCounter(
    registry,
    {
      name: `${METRIC_PREFIX}dial_failures_total`,
      help: 'Connections to the target that failed, by reason; each reset its client.',
      labelNames: ['id', 'reason'],
    },
    () => DIAL_FAILURE_REASONS.map((reason) => [{ id, reason }, traffic.dialFailures[reason]]),
  );
  counter(
    p + 'client_received_bytes_total',
    'Bytes received from clients.',
    () => traffic.upstream.read,
  );
  counter(
    p + 'client_sent_bytes_total',
    'Bytes sent to clients.',
    () => traffic.downstream.written,
  );
  counter(
    p + 'target_received_bytes_total',
    'Bytes received from the target.',
    () => traffic.downstream.read,
  );
  counter(
    p + 'target_sent_bytes_total',
    'Bytes sent to the target.',
    () => traffic.upstream.written,
  );

  const inFlight = new Gauge({
    name: `${METRIC_PREFIX}http_requests_in_flight`,
    help: 'Requests to the metrics server being answered now.',
    labelNames: ['id'],
    registers,
  });
  const requests = new Counter({
    name: `${METRIC_PREFIX}http_requests_total`,
    help: 'Requests answered by the metrics server, by HTTP status code.',
    labelNames: ['id', 'code'],
    registers,
  });
  inFlight.set(labels, 0);
  for (const code of ['200', '404', '405', '500']) requests.inc({ id, code }, 0);
  registerProcessMetrics(registry);

  return {
    started: () => inFlight.inc(labels),
    finished: (statusCode) => {
      inFlight.dec(labels);
      requests.inc({ id, code: String(statusCode) });
    },
  };
}
