import { GroupBy } from '../model/network';

/** How remote hosts become the host label: names, networks, and the bound on series. */
export interface HostLabelConfig {
  /** Reverse DNS settings; undefined with --no-resolve-hosts. */
  dns?: DnsConfig;
  maxHosts: number;
  maxPortsPerHost: number;
  groupBy?: GroupBy;
}

export interface DnsConfig {
  ttlMs: number;
  negativeTtlMs: number;
  timeoutMs: number;
  budgetMs: number;
  maxInFlight: number;
}
