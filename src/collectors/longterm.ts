import { Registry } from 'prom-client';

import { AgeSource } from '../model/longterm';
import { ScrapeReader } from './scrape';
import { scrapeGauge } from './scrape-time';

export interface LongtermConfig {
  /** conntrack_longterm_connections, or the drop-in's original name. */
  metricName: string;
  minAgeSeconds: number;
  /** One unlabelled count instead of one per local port and IP version. */
  simple: boolean;
  /** Observe only this local port. */
  port?: number;
  includeIPv6: boolean;
}

const AGE_FROM: Record<AgeSource, string> = {
  'kernel-timestamp': "the kernel's start timestamp (nf_conntrack_timestamp is on)",
  'first-seen': 'when the exporter first saw the connection (nf_conntrack_timestamp is off)',
};

/**
 * Inbound TCP connections established for at least the configured time,
 * per local port and IP version (or one number with `simple`). The HELP text
 * says where ages come from, since that decides how far they can be trusted.
 */
export function registerLongterm(
  registry: Registry,
  source: ScrapeReader<'longterm'>,
  config: LongtermConfig,
  ageSource: AgeSource,
): void {
  const scope = config.port === undefined ? "this host's ports" : `local port ${config.port}`;
  scrapeGauge(
    registry,
    {
      name: config.metricName,
      help:
        `TCP connections to ${scope} established for at least ${config.minAgeSeconds} s` +
        `${config.simple ? '' : ', per local port and IP version'}; ages from ${AGE_FROM[ageSource]}.`,
      labelNames: config.simple ? [] : ['port', 'tcp_version'],
    },
    async () => {
      const { longterm } = await source.get();
      if (longterm === undefined) return [];
      const groups = [...longterm.values()];
      if (config.simple) return groups.reduce((sum, group) => sum + group.count, 0);
      return groups.map(
        (group) =>
          [{ port: String(group.port), tcp_version: group.tcpVersion }, group.count] as const,
      );
    },
    { reset: true },
  );
}
