import { readNetFile } from '../conntrack/netns';

import { ConntrackError, lookupKeys, readTable } from '../conntrack';
import { NativeSilentList } from '../conntrack/silent-list';
import { ConntrackEventStream, openEvents } from '../conntrack/events';
import { Logger } from '../log';
import { countedFlow } from '../model/classify';
import { formatEvent } from '../model/event-format';
import { LinkHealth } from '../model/link-health';
import { LiveTableOptions } from '../model/live-table';
import { localAddresses } from '../model/local-addresses';
import { EventLog } from './event-log';
import { EVENTS_SYSCTL, EventsSwitch } from './events-switch';
import { LiveSync, LiveSyncOptions } from './live-sync';
import { formatDuration } from '../options/duration';
import { DEFAULT_SILENT_CHECK_INTERVAL_S, EventsConfig } from '../options/table-reading-config';

const FALLBACK = 'reading the whole table at every scrape instead (--mode dump)';

export interface EventsMode {
  live: LiveSync;
  /** The kernel's events, for whoever follows them besides the live table. */
  stream: ConntrackEventStream;
  eventLog?: EventLog;
  /** Failures, connect times and lifetimes; undefined unless --collector.link-health. */
  linkHealth?: LinkHealth;
  /** The live table when it can answer a scrape; undefined: read the whole table. */
  usableLive(): Promise<LiveSync | undefined>;
  close(): void;
}

/**
 * Starts events mode: subscribes, reads the table, and keeps it current.
 * Undefined, after saying why once, when the kernel cannot send events;
 * the caller then reads the table at every scrape.
 */
export async function startEventsMode(
  config: EventsConfig,
  classify: Omit<LiveTableOptions, 'localAddresses'>,
  log: Logger,
  sysctlFile = EVENTS_SYSCTL,
): Promise<EventsMode | undefined> {
  if (config.mode !== 'events') return undefined;
  const setting = await readNetFile(sysctlFile).then(
    (text) => text.trim(),
    () => undefined,
  );
  if (setting === undefined) {
    log.warn(`this kernel sends no conntrack events (no ${sysctlFile}); ${FALLBACK}`);
    return undefined;
  }
  if (setting === '0') {
    log.warn(
      `conntrack events are off (net.netfilter.nf_conntrack_events=0); ${FALLBACK}. ` +
        'Set it to 1 to use events mode',
    );
    return undefined;
  }
  let stream: ConntrackEventStream;
  try {
    stream = openEvents({ receiveBufferBytes: config.netlinkBufferBytes });
  } catch (error) {
    // Reading the table needs the same privilege: falling back would only
    // fail later, with a warning about events in front of the real cause.
    const code = (error as ConntrackError).code;
    if (code === 'EPERM' || code === 'EACCES') throw error;
    log.warn(`cannot subscribe to conntrack events (${(error as Error).message}); ${FALLBACK}`);
    return undefined;
  }
  // With "2" the kernel gives events only to entries created while someone
  // listens, so those from before the subscription stay silent.
  const trackSilent = setting === '2';
  const silentCheckIntervalMs =
    config.silentCheckIntervalMs ?? DEFAULT_SILENT_CHECK_INTERVAL_S * 1000;
  if (trackSilent) {
    log.info(
      'net.netfilter.nf_conntrack_events=2: connections opened before the exporter started may ' +
        'send no events, so they are looked up in the background, each at least every ' +
        `${formatDuration(silentCheckIntervalMs)} (--silent-check-interval), until they end or send ` +
        'events; setting it to 1 before connections open avoids this ' +
        '(deploy/sysctl/90-conntrack-exporter.conf, or the opt-in conntrack-events of ' +
        'deploy/kubernetes/daemonset.yaml and docker-compose.yml)',
    );
  }

  const eventLog = config.logEvents ? new EventLog(process.stdout, log) : undefined;
  const format = config.logEvents;
  const linkHealth = config.linkHealth
    ? new LinkHealth({ classification: () => live.table.classification })
    : undefined;
  const logEvent: LiveSyncOptions['onEvent'] =
    eventLog && format
      ? (event, known, batch) => {
          // Left out of the log like out of the metrics: the own port, ignored hosts.
          const flow = countedFlow(event.entry, live.table.classification);
          if (!flow) return;
          const state = event.entry.tcpState ?? known?.state;
          eventLog.add(formatEvent({ event, flow, state, atMs: batch.receivedAtMs }, format));
        }
      : undefined;
  const live: LiveSync = new LiveSync({
    stream,
    dump: readTable,
    lookup: lookupKeys,
    silentList: new NativeSilentList(),
    localAddresses,
    classify,
    resyncIntervalMs: config.resyncIntervalMs,
    trackSilent,
    silentCheckIntervalMs,
    log,
    onEvent:
      linkHealth === undefined
        ? logEvent
        : (event, known, batch) => {
            linkHealth.onEvent(event, known, batch.receivedAtMs);
            logEvent?.(event, known, batch);
          },
  });
  try {
    await live.start();
  } catch (error) {
    live.close();
    throw error;
  }
  log.info(
    `events mode: ${live.table.size} TCP entries read; receive buffer ${stream.receiveBufferBytes} bytes`,
  );
  const events = new EventsSwitch(live, log, sysctlFile);
  return {
    live,
    stream,
    eventLog,
    linkHealth,
    usableLive: async () =>
      live.failed === undefined && (await events.liveUsable()) ? live : undefined,
    close: () => live.close(),
  };
}
