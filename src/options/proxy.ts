import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';

import type { Argv } from 'yargs';

import { UsageError } from '../errors';
import { LISTEN_RULES, parseHostPort, TARGET_RULES, type HostPort } from '../proxy/address';
import { FlagsOf } from './args';
import { checkPath } from './checks';
import { checkTimerHolds, wholeMs } from './duration';

/** Which metric names to export: ours, or the Go tcp-metrics-proxy's. */
export type MetricFlavour = 'conventional' | 'legacy';

export interface ProxyConfig {
  listen: HostPort;
  target: HostPort;
  metrics: HostPort;
  /** Undefined: metrics on every path, as the Go tcp-metrics-proxy serves them. */
  metricsPath: string | undefined;
  id: string;
  dialTimeoutMs: number;
  /** 0: wait for open connections as long as they last. */
  drainTimeoutMs: number;
  /** Relay threads the connections are spread over. */
  workers: number;
  flavour: MetricFlavour;
  /** How flags are written in messages: '--' for conntrack-exporter, '-' for the drop-in. */
  flagDash: string;
  /** exporter-toolkit's web config for the metrics server: TLS, basic auth, headers, rate limit. */
  webConfigFile?: string;
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
  webConfigFile?: unknown;
  workers?: unknown;
}

export const DEFAULT_DIAL_TIMEOUT = '10s';
export const DEFAULT_DRAIN_TIMEOUT = '0';
export const DEFAULT_METRICS_PATH = '/metrics';
/** More relay threads than this only add memory: one loop moves gigabits. */
export const MAX_WORKERS = 64;
/** One relay thread per core the process may use. */
export const defaultWorkers = (): number => Math.min(availableParallelism(), MAX_WORKERS);

/** The proxy command's flags, before the config layers. */
export function proxyOptions(y: Argv) {
  return y
    .option('listen', {
      type: 'string',
      describe: 'Accept connections on HOST:PORT (:PORT for every interface)',
    })
    .option('target', { type: 'string', describe: 'Forward each connection to HOST:PORT' })
    .option('metrics', { type: 'string', describe: 'Serve metrics on HOST:PORT' })
    .option('metrics-path', {
      type: 'string',
      describe: 'Path of the metrics page',
      default: DEFAULT_METRICS_PATH,
    })
    .option('id', {
      type: 'string',
      describe: 'Value of the id label on every metric [default: a random UUID]',
    })
    .option('dial-timeout', {
      type: 'string',
      // Takes the next word even when it starts with a dash: "-1s" is a bad value, not flags.
      requiresArg: true,
      describe: 'Give up connecting to the target after this long',
      default: DEFAULT_DIAL_TIMEOUT,
    })
    .option('drain-timeout', {
      type: 'string',
      requiresArg: true,
      describe: 'On SIGTERM/SIGINT, reset connections still open after this long (0: no limit)',
      default: DEFAULT_DRAIN_TIMEOUT,
    })
    .option('workers', {
      type: 'string',
      requiresArg: true,
      describe: `Relay threads to spread connections over, 1-${MAX_WORKERS} [default: one per core]`,
    })
    .option('web.config.file', {
      type: 'string',
      requiresArg: true,
      describe:
        "exporter-toolkit's web config for the metrics server: TLS, basic auth, headers, rate limit",
    });
}

/** The proxy command's flags as yargs gives them, before buildProxyConfig checks them. */
export type ProxyFlags = FlagsOf<typeof proxyOptions>;

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
  /** Without --metrics-path, serve the metrics on every path (the Go proxy's way). */
  everyPathByDefault = false,
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
  const metricsPath =
    text('metrics-path', raw.metricsPath) ??
    (everyPathByDefault ? undefined : DEFAULT_METRICS_PATH);
  if (metricsPath !== undefined && !metricsPath.startsWith('/')) {
    throw new UsageError(
      `${flag('metrics-path')} ${JSON.stringify(metricsPath)}: must start with /`,
    );
  }
  if (metricsPath !== undefined && metricsPath !== '/') {
    checkPath(metricsPath, flag('metrics-path'));
  }
  const id = text('id', raw.id) ?? randomUUID();
  if (id.trim() === '') throw new UsageError(`${flag('id')} must not be empty`);
  const duration = (name: string, value: unknown, fallback: string): number =>
    parseDuration(text(name, value) ?? fallback, flag(name));
  const dialTimeoutMs = duration('dial-timeout', raw.dialTimeout, DEFAULT_DIAL_TIMEOUT);
  if (dialTimeoutMs <= 0) throw new UsageError(`${flag('dial-timeout')} must be more than 0`);
  const drainTimeoutMs = duration('drain-timeout', raw.drainTimeout, DEFAULT_DRAIN_TIMEOUT);
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
    webConfigFile: text('web.config.file', raw.webConfigFile),
  };
}

/**
 * A Go-style duration ('10s', '1m30s', '250ms') or a plain number of
 * seconds, in whole milliseconds that a timer holds. Go's syntax because the
 * original proxy's users write durations that way.
 */
export function parseDuration(text: string, flag: string): number {
  const ms = wholeMs(text, flag);
  if (Number.isNaN(ms)) {
    throw new UsageError(
      `${flag} ${JSON.stringify(text)}: expected a duration such as 10s, 500ms or 1m30s`,
    );
  }
  return checkTimerHolds(ms, text, flag);
}
