import { Argv } from 'yargs';

import {
  DEFAULT_RECEIVE_BUFFER_BYTES,
  MAX_RECEIVE_BUFFER_BYTES,
  MIN_RECEIVE_BUFFER_BYTES,
} from '../conntrack/events';
import { UsageError } from '../errors';
import { EVENT_LOG_FORMATS, EventLogFormat } from '../model/event-format';
import { durationMs } from '../duration';

export type TableMode = 'events' | 'dump';
const TABLE_MODES: readonly TableMode[] = ['events', 'dump'];

/** How the exporter learns what the table holds, and whether it logs events. */
export interface EventsConfig {
  mode: TableMode;
  /** Full re-read of the table in events mode; 0 for never. */
  resyncIntervalMs: number;
  netlinkBufferBytes: number;
  /** The event log's format; undefined when events are not logged. */
  logEvents?: EventLogFormat;
}

export interface EventsArgs {
  mode: TableMode;
  resyncInterval: number;
  netlinkBufferSize: number;
  logEvents: boolean;
  logEventsFormat: EventLogFormat;
}

/**
 * The periodic re-read is a safety net only: overflows, new local addresses
 * and silent entries (nf_conntrack_events=2) each cause a re-read of their
 * own at once. What is left for it is an event the kernel failed to send
 * without reporting a drop (it could not allocate the message). It costs
 * CPU in proportion to the table (BENCHMARKS.md), so every 10 minutes
 * rather than 5.
 */
export const DEFAULT_RESYNC_INTERVAL_S = 600;

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

export function eventsOptions<T>(y: Argv<T>) {
  return y
    .option('mode', {
      requiresArg: true,
      default: 'events',
      // Checked in coerce() rather than with choices, whose message spans lines.
      coerce: (value: unknown) => checkChoice(String(value), '--mode', TABLE_MODES),
      describe:
        'events: read the table once, then keep it current from conntrack events (cheap scrapes, ' +
        'counts short-lived connections); dump: read the whole table at every scrape',
    })
    .option('resync-interval', {
      requiresArg: true,
      default: String(DEFAULT_RESYNC_INTERVAL_S),
      coerce: (value: unknown) => checkInterval(String(value), '--resync-interval'),
      describe: 'events mode: re-read the whole table this often (seconds, or e.g. 5m; 0: never)',
    })
    .option('netlink-buffer-size', {
      requiresArg: true,
      default: `${DEFAULT_RECEIVE_BUFFER_BYTES / 1024 / 1024}M`,
      coerce: (value: unknown) => checkBufferSize(String(value), '--netlink-buffer-size'),
      describe:
        'events mode: receive buffer of the event socket, in bytes (or e.g. 512K, 16M); ' +
        'events beyond it are dropped by the kernel and repaired by a re-read',
    })
    .option('log-events', {
      type: 'boolean',
      default: false,
      describe: 'print one line per connection event on stdout (needs events mode)',
    })
    .option('log-events-format', {
      requiresArg: true,
      default: 'netfilter',
      coerce: (value: unknown) =>
        checkChoice(String(value), '--log-events-format', EVENT_LOG_FORMATS),
      describe: 'netfilter: like conntrack -E; json: one JSON object per line',
    });
}

/** The settings as the landing page lists them. */
export function describeEvents(config: EventsConfig): Record<string, string> {
  if (config.mode === 'dump') return { 'table mode': 'dump at every scrape' };
  const interval = config.resyncIntervalMs === 0 ? 'never' : `${config.resyncIntervalMs / 1000} s`;
  return {
    'table mode': 'events',
    'resync interval': interval,
    'netlink buffer': `${config.netlinkBufferBytes} bytes`,
    'event log': config.logEvents ?? 'off',
  };
}

export function eventsConfig(args: EventsArgs): EventsConfig {
  if (args.logEvents && args.mode === 'dump') {
    throw new UsageError('--log-events needs --mode events: dump mode sees no events');
  }
  return {
    mode: args.mode,
    resyncIntervalMs: args.resyncInterval,
    netlinkBufferBytes: args.netlinkBufferSize,
    logEvents: args.logEvents ? args.logEventsFormat : undefined,
  };
}

/** Seconds ("300"), or a number and a unit ("5m"), of at least 1 s; in milliseconds. "0" turns it off. */
export function checkInterval(value: string, flag: string): number {
  const ms = Math.round(durationMs(value));
  if (!(ms === 0 || (ms >= 1000 && ms <= 2 ** 31 - 1))) {
    throw new UsageError(
      `${flag}: '${value}' is not an interval of at least 1s; write seconds or a number and a unit, ` +
        'e.g. 300, 5m or 1h (0: never)',
    );
  }
  return ms;
}

function checkChoice<T extends string>(value: string, flag: string, choices: readonly T[]): T {
  const choice = choices.find((item) => item === value);
  if (choice === undefined) {
    throw new UsageError(`${flag}: '${value}' is not one of ${choices.join(', ')}`);
  }
  return choice;
}

/** Bytes, with an optional binary unit: "8388608", "512K", "16M", "1G". */
export function checkBufferSize(value: string, flag: string): number {
  const match = /^(\d+)\s*([kmg]?)(?:i?b)?$/i.exec(value.trim());
  const bytes = match
    ? Number(match[1]) * (SIZE_UNITS[(match[2] ?? '').toLowerCase()] ?? NaN)
    : NaN;
  if (!(bytes >= MIN_RECEIVE_BUFFER_BYTES && bytes <= MAX_RECEIVE_BUFFER_BYTES)) {
    throw new UsageError(
      `${flag}: '${value}' is not a buffer size from 4K to 1G; write bytes or a number with K, M or G, e.g. 8M`,
    );
  }
  return bytes;
}
