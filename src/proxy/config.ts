import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { UsageError } from '../errors';
import { LISTEN_RULES, parseHostPort, TARGET_RULES, type HostPort } from './address';
import { parseDuration } from './duration';

/** Which metric names to export: ours, or the Go tcp-metrics-proxy's. */
export type MetricFlavour = 'conventional' | 'legacy';

export interface ProxyConfig {
  listen: HostPort;
  target: HostPort;
  metrics: HostPort;
  metricsPath: string;
  id: string;
  dialTimeoutMs: number;
  /** 0: wait for open connections as long as they last. */
  drainTimeoutMs: number;
  /** Relay threads the connections are spread over. */
  workers: number;
  flavour: MetricFlavour;
  /** How flags are written in messages: '--' for conntrack-exporter, '-' for the drop-in. */
  flagDash: string;
}

/** Flag values as given, before checking; undefined when absent. */
export interface RawProxyOptions {
  listen?: unknown;
  target?: unknown;
  metrics?: unknown;
  metricsPath?: unknown;
  id?: unknown;
  dialTimeout?: unknown;
  drainTimeout?: unknown;
  workers?: unknown;
}

export const DEFAULT_DIAL_TIMEOUT = '10s';
export const DEFAULT_DRAIN_TIMEOUT = '0';
export const DEFAULT_METRICS_PATH = '/metrics';
/** More relay threads than this only add memory: one loop moves gigabits. */
export const MAX_WORKERS = 64;
/** One relay thread per core the process may use. */
export const defaultWorkers = (): number => Math.min(availableParallelism(), MAX_WORKERS);

const ADDRESS_PURPOSE: Record<'listen' | 'target' | 'metrics', string> = {
  listen: 'the address to accept connections on',
  target: 'the address to forward connections to',
  metrics: 'the address to serve metrics on',
};

/** Checks every option and returns a complete config, or throws a UsageError. */
export function buildProxyConfig(
  raw: RawProxyOptions,
  flavour: MetricFlavour,
  flagDash: string,
): ProxyConfig {
  const flag = (name: string): string => `${flagDash}${name}`;
  const text = (name: string, value: unknown): string | undefined => {
    if (value === undefined) return undefined;
    if (Array.isArray(value)) throw new UsageError(`${flag(name)} is given more than once`);
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw new UsageError(`${flag(name)} needs a value`);
    }
    return String(value);
  };
  const address = (name: 'listen' | 'target' | 'metrics', value: unknown): HostPort => {
    const given = text(name, value);
    if (given === undefined || given === '') {
      throw new UsageError(`missing ${flag(name)} HOST:PORT (${ADDRESS_PURPOSE[name]})`);
    }
    return parseHostPort(given, flag(name), name === 'target' ? TARGET_RULES : LISTEN_RULES);
  };

  const listen = address('listen', raw.listen);
  const target = address('target', raw.target);
  const metrics = address('metrics', raw.metrics);
  const metricsPath = text('metrics-path', raw.metricsPath) ?? DEFAULT_METRICS_PATH;
  if (!metricsPath.startsWith('/')) {
    throw new UsageError(
      `${flag('metrics-path')} ${JSON.stringify(metricsPath)}: must start with /`,
    );
  }
  const id = text('id', raw.id) ?? randomUUID();
  if (id.trim() === '') throw new UsageError(`${flag('id')} must not be empty`);
  const dialTimeoutMs = parseDuration(
    text('dial-timeout', raw.dialTimeout) ?? DEFAULT_DIAL_TIMEOUT,
    flag('dial-timeout'),
  );
  if (dialTimeoutMs <= 0) throw new UsageError(`${flag('dial-timeout')} must be more than 0`);
  const drainTimeoutMs = parseDuration(
    text('drain-timeout', raw.drainTimeout) ?? DEFAULT_DRAIN_TIMEOUT,
    flag('drain-timeout'),
  );
  const workersText = text('workers', raw.workers);
  const workers = workersText === undefined ? defaultWorkers() : Number(workersText);
  if (!/^\d+$/.test(workersText ?? '1') || workers < 1 || workers > MAX_WORKERS) {
    throw new UsageError(
      `${flag('workers')} ${JSON.stringify(workersText)}: must be a whole number from 1 to ${MAX_WORKERS}`,
    );
  }
  return {
    listen,
    target,
    metrics,
    metricsPath,
    id,
    dialTimeoutMs,
    drainTimeoutMs,
    workers,
    flavour,
    flagDash,
  };
}
