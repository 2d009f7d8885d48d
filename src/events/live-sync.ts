import { EventEmitter } from 'node:events';

import type {
  ConntrackEvent,
  ConntrackEventStreamEvents,
  ConntrackEventType,
  EventBatch,
} from '../conntrack/events';
import type { SilentList } from '../conntrack/silent-list';
import { ConntrackEntry } from '../conntrack/types';
import { Logger } from '../log';
import { HostGroup } from '../model/group';
import { EventWatcher, LiveTable, LiveTableOptions } from '../model/live-table';
import { SilentWatch, SilentWatchOptions } from './silent-watch';
import { withoutYoungGenerationGrowth } from './young-generation';

/**
 * A read of the table: an array, or records decoded as they are iterated
 * (readTable()), released once the table has taken them.
 */
export type TableRead = Iterable<ConntrackEntry> & { readonly length: number; release?(): void };

/** Why the table was read again. */
export type ResyncReason =
  'start' | 'overflow' | 'interval' | 'addresses' | 'silent_entries' | 'events_on';

export const RESYNC_REASONS: readonly ResyncReason[] = [
  'start',
  'overflow',
  'interval',
  'addresses',
  'silent_entries',
  'events_on',
];

export interface EventStats {
  events: Record<ConntrackEventType, number>;
  overflows: number;
  resyncs: Record<ResyncReason, number>;
  /** Silent entries looked up in the background, and how many of them had ended. */
  silentLookups: { entries: number; ended: number };
  /** Entries looked up once their timeout ran out (see LiveTable.dueKeys), and how many were gone. */
  expiryLookups: { entries: number; gone: number };
}

/** The stream as the sync uses it: a ConntrackEventStream, or a fake in tests. */
export type EventSource = EventEmitter<ConntrackEventStreamEvents> & { close(): void };

export interface LiveSyncOptions {
  stream: EventSource;
  /** Reads the whole table; it may decode entries only as they are iterated. */
  dump: () => Promise<TableRead>;
  /** Where silent entries are kept and how they are checked (the addon's list, or a fake). */
  silentList: SilentList;
  /** This host's addresses, read at each resync and each scrape. */
  localAddresses: () => ReadonlySet<string>;
  classify: Omit<LiveTableOptions, 'localAddresses'>;
  /** Periodic re-read of the whole table; 0 for none. */
  resyncIntervalMs: number;
  /** Whether entries that predate the subscription may never send events (nf_conntrack_events=2). */
  trackSilent: boolean;
  /** Each silent entry is looked up at least this often, in the background. */
  silentCheckIntervalMs: number;
  /** The silent entries' watch's clock and timer; real ones by default. */
  silentTimers?: Pick<SilentWatchOptions, 'now' | 'schedule'>;
  /**
   * Looks entries up by key (lookupKeys): those found, the others left
   * out. Without it, entries whose timeout ran out wait for the kernel's
   * DESTROY event (see LiveTable.dueKeys).
   */
  lookup?: (keys: readonly string[]) => Promise<ConntrackEntry[]>;
  log: Logger;
  /**
   * Sees each event as it arrives (not when replayed onto a read), before
   * the table applies it, with what the table knew of the connection.
   */
  onEvent?: EventWatcher;
}

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

interface Job {
  reason: ResyncReason;
  waiters: Waiter[];
  /** Every event that arrived since the read was asked for, to replay onto it. */
  during: ConntrackEvent[];
  /** Events were lost while it ran: its read cannot be trusted. */
  spoiled: boolean;
  /** Entries the table did not know may never send events (see resync). */
  findSilent?: boolean;
}

// A failed repair is tried again after this long rather than at once, so a
// table that cannot be read does not turn into a busy loop.
const RETRY_MS = 5_000;

// Silent entries are checked a slice per tick: often enough that a slice
// is small, seldom enough that a tick's fixed cost stays negligible.
const SILENT_TICK_MS = 1_000;

// Entries whose timeout ran out are looked up this often, at most this
// many at a time (one request to the kernel each, many per system call).
const EXPIRY_TICK_MS = 1_000;
const MAX_EXPIRY_LOOKUPS = 10_000;

/**
 * Keeps a LiveTable in step with the kernel: events as they come, and a
 * full read of the table at start, after an overflow, every interval and
 * when local addresses change. Silent entries are looked up in the
 * background by a SilentWatch, never while a read runs or waits, and no
 * read starts while a lookup runs; when a lookup fails, the table is read
 * instead, in the background too. No scrape waits for them.
 *
 * Ordering, so that no event is lost or counted twice:
 * - The stream is subscribed before the first read, so every change after
 *   the read's start is an event.
 * - Events always go to the table at once (scrapes stay current) and, while
 *   a read runs, into `during`. When the read returns, it becomes the table
 *   with `during` replayed onto it in order; the last event of an entry is
 *   its latest change, whether the read saw the entry before or after it.
 *   The difference from the old table is counted as opened/closed.
 * - After an overflow the socket still holds events from before the drop,
 *   and replaying those onto a newer read would undo changes whose events
 *   were dropped. So a repair read starts only once a batch has drained the
 *   socket, and a read running when events are lost is thrown away.
 */
export class LiveSync {
  readonly table: LiveTable;
  readonly stats: EventStats = {
    events: { new: 0, update: 0, destroy: 0 },
    overflows: 0,
    resyncs: { start: 0, overflow: 0, interval: 0, addresses: 0, silent_entries: 0, events_on: 0 },
    silentLookups: { entries: 0, ended: 0 },
    expiryLookups: { entries: 0, gone: 0 },
  };
  /** Set when the stream failed; the table is then no longer kept current. */
  failed: Error | undefined;

  private pending: Omit<Job, 'during' | 'spoiled'> | undefined;
  private running: Job | undefined;
  // Its lookups hold back reads of the whole table (see startPending).
  private readonly silentWatch: SilentWatch;
  private awaitingDrain = false;
  private closed = false;
  private synced = false;
  private warned = false;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly expiryTimer: NodeJS.Timeout | undefined;
  private lookingUpDue = false;

  constructor(private readonly options: LiveSyncOptions) {
    this.table = new LiveTable(
      { ...options.classify, localAddresses: options.localAddresses() },
      undefined,
      options.silentList,
    );
    this.silentWatch = this.watchSilent();
    const { stream } = options;
    stream.on('events', (events, batch) => this.onEvents(events, batch));
    stream.on('overflow', () => this.onOverflow());
    stream.on('error', (error) => {
      this.failed = error;
      options.log.error(
        `the conntrack event stream failed: ${error.message}; reading the whole table at every scrape from now on`,
      );
      // A read waiting for the socket to drain would wait for ever.
      for (const waiter of this.pending?.waiters ?? []) waiter.reject(error);
      this.pending = undefined;
      if (this.timer) clearInterval(this.timer);
      if (this.expiryTimer) clearInterval(this.expiryTimer);
      this.silentWatch.stop();
    });
    if (options.resyncIntervalMs > 0) {
      this.timer = setInterval(() => {
        if (this.running === undefined && this.pending === undefined) {
          this.resync('interval').catch(() => undefined);
        }
      }, options.resyncIntervalMs).unref();
    }
    if (options.lookup !== undefined) {
      this.expiryTimer = setInterval(() => this.lookUpDue(), EXPIRY_TICK_MS).unref();
    }
  }

  /** Reads the table for the first time; resolves once the table holds it. */
  start(): Promise<void> {
    return this.resync('start');
  }

  /**
   * The groups to report now. Reads the table first when local addresses
   * changed since it was classified; silent entries are the background
   * watch's business.
   */
  async snapshot(): Promise<HostGroup[]> {
    if (!sameSet(this.options.localAddresses(), this.table.localAddresses)) {
      await this.resync('addresses');
    }
    return this.table.snapshot();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    this.silentWatch.stop();
    this.options.stream.close();
    const error = new Error('the live table was closed');
    for (const waiter of [...(this.pending?.waiters ?? []), ...(this.running?.waiters ?? [])]) {
      waiter.reject(error);
    }
    this.pending = undefined;
  }

  /**
   * Resolves when a read of the table that started after this call is
   * applied. `findSilent`: the entries it finds unknown opened while the
   * kernel sent no events, and never will send any.
   */
  resync(reason: ResyncReason, findSilent = false): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.closed || this.failed) {
        reject(this.failed ?? new Error('the live table was closed'));
        return;
      }
      if (this.pending === undefined) this.pending = { reason, waiters: [] };
      // An overflow repair is what it is, whatever else asked for the read.
      else if (reason === 'overflow') this.pending.reason = reason;
      if (findSilent) this.pending.findSilent = true;
      this.pending.waiters.push({ resolve, reject });
      this.startPending();
    });
  }

  private watchSilent(): SilentWatch {
    const { options } = this;
    return new SilentWatch({
      intervalMs: options.silentCheckIntervalMs,
      tickMs: Math.min(SILENT_TICK_MS, options.silentCheckIntervalMs),
      remaining: () => options.silentList.remaining,
      rewind: () => options.silentList.rewind(),
      check: (count) => this.checkSilent(count),
      mayCheck: () =>
        !this.closed &&
        this.failed === undefined &&
        this.running === undefined &&
        this.pending === undefined &&
        !this.awaitingDrain,
      checked: () => this.startPending(),
      fallback: (error) => {
        if (this.closed || this.failed) return;
        this.options.log.warn(
          `looking up entries that send no events failed: ${error.message}; re-reading the table instead`,
        );
        this.resync('silent_entries').catch(() => undefined);
      },
      ...options.silentTimers,
    });
  }

  /** Checks the next `count` silent entries; resolves whether the round is over. */
  private async checkSilent(count: number): Promise<boolean> {
    const { changes, checked, wrapped } = await this.options.silentList.check(count);
    if (this.closed) return wrapped;
    const ended = this.table.applyChecks(changes);
    this.stats.silentLookups.entries += checked;
    this.stats.silentLookups.ended += ended;
    if (ended > 0) {
      this.options.log.debug(
        `looked up ${checked} entries that send no events: ${ended} ended, ${this.table.silentEntries} remain`,
      );
    }
    return wrapped;
  }

  /**
   * Looks up the entries whose timeout ran out with no event since, in the
   * background: the kernel reaps those that did not renew it, and their
   * DESTROY events end them here (see LiveTable.dueKeys). A read of the
   * table may run meanwhile: what the lookup found is matched by key and
   * kernel id against the table as it is then.
   */
  private lookUpDue(): void {
    const { lookup } = this.options;
    if (lookup === undefined || this.lookingUpDue || this.closed || this.failed) return;
    const keys = this.table.dueKeys(MAX_EXPIRY_LOOKUPS);
    if (keys.length === 0) return;
    this.lookingUpDue = true;
    lookup(keys)
      .then(
        (found) => {
          if (this.closed) return;
          const renewed = this.table.renewDue(found);
          this.stats.expiryLookups.entries += keys.length;
          this.stats.expiryLookups.gone += keys.length - renewed;
        },
        (error: Error) => {
          // They are then ended by the kernel's own DESTROY events, later.
          this.options.log.debug(
            `looking up ${keys.length} entries whose timeout ran out failed: ${error.message}`,
          );
        },
      )
      .finally(() => (this.lookingUpDue = false));
  }

  private onEvents(events: ConntrackEvent[], batch: EventBatch): void {
    const { onEvent } = this.options;
    const during = this.running?.during;
    for (const event of events) {
      this.stats.events[event.type]++;
      this.table.apply(event, onEvent, batch);
      during?.push(event);
    }
    if (batch.drained && this.awaitingDrain) {
      this.awaitingDrain = false;
      this.startPending();
    }
  }

  private onOverflow(): void {
    this.stats.overflows++;
    // One line per episode: a burst drops events many times before the repair.
    if (!this.warned) {
      this.warned = true;
      this.options.log.warn(
        'the kernel dropped conntrack events (receive buffer full); re-reading the table ' +
          '(a larger --netlink-buffer-size makes this rarer)',
      );
    }
    this.awaitingDrain = true;
    if (this.running) this.running.spoiled = true;
    this.resync('overflow').catch(() => undefined);
  }

  private startPending(): void {
    const next = this.pending;
    if (
      this.closed ||
      this.running ||
      this.silentWatch.busy ||
      next === undefined ||
      this.awaitingDrain
    ) {
      return;
    }
    this.pending = undefined;
    const job: Job = { ...next, during: [], spoiled: false };
    this.running = job;
    const addresses = this.options.localAddresses();
    this.options.dump().then(
      (entries) => {
        try {
          this.finish(job, entries, addresses);
        } finally {
          entries.release?.();
        }
      },
      (error: Error) => this.fail(job, error),
    );
  }

  private finish(job: Job, entries: TableRead, addresses: ReadonlySet<string>): void {
    this.running = undefined;
    if (this.closed) return;
    if (job.spoiled) {
      // Asked again; it starts once the socket has drained.
      const retry = this.pending ?? { reason: 'overflow', waiters: [] };
      this.pending = {
        reason: 'overflow',
        waiters: [...job.waiters, ...retry.waiters],
        findSilent: job.findSilent === true || retry.findSilent === true,
      };
      this.startPending();
      return;
    }
    // Only the first read can find entries from before the subscription.
    const findSilent = (this.options.trackSilent && !this.synced) || job.findSilent === true;
    const { appeared, vanished } = withoutYoungGenerationGrowth(() =>
      this.table.replace(
        entries,
        job.during,
        { ...this.options.classify, localAddresses: addresses },
        findSilent,
      ),
    );
    this.synced = true;
    if (findSilent && this.table.silentEntries > 0) {
      this.silentWatch.start();
      this.silentWatch.restart();
    }
    this.stats.resyncs[job.reason]++;
    if (job.reason === 'overflow') this.warned = false;
    this.options.log.debug(
      `resync (${job.reason}): ${entries.length} entries read, ${job.during.length} events replayed, ` +
        `${appeared} unknown entries found, ${vanished} gone entries dropped`,
    );
    for (const waiter of job.waiters) waiter.resolve();
    this.startPending();
  }

  private fail(job: Job, error: Error): void {
    this.running = undefined;
    if (this.closed) return;
    this.options.log.error(
      `re-reading the conntrack table (${job.reason}) failed: ${error.message}`,
    );
    for (const waiter of job.waiters) waiter.reject(error);
    if (job.reason === 'overflow' || job.spoiled) {
      setTimeout(() => this.resync('overflow').catch(() => undefined), RETRY_MS).unref();
    }
    this.startPending();
  }
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const item of a) if (!b.has(item)) return false;
  return true;
}
