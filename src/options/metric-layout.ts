import { UsageError } from '../errors';
import { checkChoice } from './checks';

/**
 * How the connection gauges are named and labelled:
 * - native: conntrack_<phase>_connections{host,port,direction}, every phase of every series;
 * - v0.3: the C++ conntrack_exporter v0.3.1's conntrack_<phase>_connections{host="address:port"},
 *   non-zero series only;
 * - v0.1: its v0.1 names as documented, conntrack_<phase>_connections_total{host}, every phase.
 */
export const METRIC_LAYOUTS = ['native', 'v0.3', 'v0.1'] as const;
export type MetricLayout = (typeof METRIC_LAYOUTS)[number];

export function checkMetricLayout(value: unknown, flag: string): MetricLayout {
  return checkChoice(String(value), flag, METRIC_LAYOUTS);
}

/**
 * The layout in force. --legacy-metric-names is the older spelling of
 * --metric-layout v0.1; given with another layout than the command's
 * default, one of the two is a mistake, and guessing which would hide it.
 */
export function metricLayoutOf(
  layout: MetricLayout,
  legacyMetricNames: boolean,
  commandDefault: MetricLayout,
): MetricLayout {
  if (!legacyMetricNames) return layout;
  if (layout !== 'v0.1' && layout !== commandDefault) {
    throw new UsageError(
      `--legacy-metric-names means --metric-layout v0.1, but --metric-layout is ${layout}; give one of them`,
    );
  }
  return 'v0.1';
}
