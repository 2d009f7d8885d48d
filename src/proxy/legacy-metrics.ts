import { Counter, Gauge, type Registry } from './prom-client';
import { metricDefiners } from './metric-definers';
import { registerProcessMetrics } from '../collectors/process';
import type { ScrapeInstruments } from './metrics-server';
import type { ProxyTraffic } from './traffic';

/**
 * The metric names of the Go tcp-metrics-proxy, for `tcp-metrics-proxy`:
 * dashboards and alerts written for it keep working. Its byte counters add
 * both directions of a side, and have no `_total`, as the original's did.
 */
export function registerLegacyProxyMetrics(
  registry: Registry,
  traffic: ProxyTraffic,
  id: string,
): ScrapeInstruments {
  const registers = [registry];
  const { gauge, counter } = metricDefiners(registry, id);

  gauge(
    'active_inbound_connections',
    'The number of currently active inbound connections',
    () => traffic.activeInbound,
  );
  gauge(
    'active_outbound_connections',
    'The number of currently active outbound connections',
    () => traffic.activeOutbound,
  );
  counter(
    'inbound_bytes_count',
    'The total number of bytes sent and received on inbound connections',
    () => traffic.upstream.read + traffic.downstream.written,
  );
  counter(
    'inbound_connection_count',
    'The total number of inbound connections established',
    () => traffic.accepted,
  );
  counter(
    'outbound_bytes_count',
    'The total number of bytes sent and received on outbound connections',
    () => traffic.downstream.read + traffic.upstream.written,
  );
  counter(
    'outbound_connection_count',
    'The total number of outbound connections established',
    () => traffic.dialed,
  );

  const inFlight = new Gauge({
    name: 'promhttp_metric_handler_requests_in_flight',
    help: 'Current number of scrapes being served.',
    registers,
  });
  const requests = new Counter({
    name: 'promhttp_metric_handler_requests_total',
    help: 'Total number of scrapes by HTTP status code.',
    labelNames: ['code'],
    registers,
  });
  inFlight.set(0);
  for (const code of ['200', '500', '503']) requests.inc({ code }, 0);
  registerProcessMetrics(registry);

  return {
    started: () => inFlight.inc(),
    finished: (statusCode) => {
      inFlight.dec();
      requests.inc({ code: String(statusCode) });
    },
  };
}
