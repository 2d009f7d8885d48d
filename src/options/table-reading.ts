import { Argv } from 'yargs';

import {
  DEFAULT_RECEIVE_BUFFER_BYTES,
  MAX_RECEIVE_BUFFER_BYTES,
  MIN_RECEIVE_BUFFER_BYTES,
} from '../conntrack/events';
import { UsageError } from '../errors';
import { EVENT_LOG_FORMATS } from '../model/event-format';
import { ArgsOf } from './args';
import { checkChoice } from './checks';
import { OptInCollector } from './collectors';
import { checkDuration, checkInterval } from './duration';
import {
  DEFAULT_RESYNC_INTERVAL_S,
  DEFAULT_SILENT_CHECK_INTERVAL_S,
  EventsConfig,
  MAX_SILENT_CHECK_INTERVAL_MS,
  TABLE_MODES,
} from './table-reading-config';

/** The flags of `tableReadingOptions`, checked and converted. */
export type TableReadingArgs = ArgsOf<typeof tableReadingOptions>;

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

export function tableReadingOptions<T>(y: Argv<T>) {
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
    .option('silent-check-interval', {
      requiresArg: true,
      default: String(DEFAULT_SILENT_CHECK_INTERVAL_S),
      coerce: (value: unknown) =>
        checkDuration(String(value), '--silent-check-interval', 1, MAX_SILENT_CHECK_INTERVAL_MS),
      describe:
        'events mode: look up each entry that sends no events (nf_conntrack_events=2, opened ' +
        'before the exporter) at least this often, in the background (seconds, or e.g. 30s, 5m): ' +
        'the longest its end takes to show; shorter costs more CPU',
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
    'silent entry check interval': `${(config.silentCheckIntervalMs ?? DEFAULT_SILENT_CHECK_INTERVAL_S * 1000) / 1000} s`,
    'netlink buffer': `${config.netlinkBufferBytes} bytes`,
    'event log': config.logEvents ?? 'off',
    'link health': config.linkHealth ? 'on' : 'off (--collector.link-health)',
  };
}

export function eventsConfig(
  args: TableReadingArgs,
  collectors: ReadonlySet<OptInCollector> = new Set(),
): EventsConfig {
  const linkHealth = collectors.has('link-health');
  if (args.logEvents && args.mode === 'dump') {
    throw new UsageError('--log-events needs --mode events: dump mode sees no events');
  }
  if (linkHealth && args.mode === 'dump') {
    throw new UsageError(
      '--collector.link-health needs --mode events: dump mode sees no failures, connect times or lifetimes',
    );
  }
  return {
    mode: args.mode,
    resyncIntervalMs: args.resyncInterval,
    silentCheckIntervalMs: args.silentCheckInterval,
    netlinkBufferBytes: args.netlinkBufferSize,
    logEvents: args.logEvents ? args.logEventsFormat : undefined,
    linkHealth,
  };
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
