import { EventEmitter } from 'node:events';

import { NativeEventStream } from './addon';
import { addon, ConntrackError } from './index';
import { decodeRecords, RECORD_SIZE } from './record';
import { ConntrackEntry } from './types';

/** What happened to an entry: it appeared, changed (TCP state, status, mark), or ended. */
export type ConntrackEventType = 'new' | 'update' | 'destroy';

export interface ConntrackEvent {
  type: ConntrackEventType;
  /**
   * The entry as the kernel described it in the event. An update that is not
   * a change of TCP state has no `tcpState`; a destroy has the final counters.
   */
  entry: ConntrackEntry;
}

/** About one batch of events: all those read from the socket in one go. */
export interface EventBatch {
  /**
   * True when the socket had nothing more queued after this batch. After an
   * 'overflow', the first drained batch marks the point from which no event
   * is missing (until the next overflow).
   */
  drained: boolean;
  /** When the batch was read, in ms since the epoch. */
  receivedAtMs: number;
}

export interface EventStreamOptions {
  /**
   * Size of the socket's receive buffer: how many bytes of events the kernel
   * holds for a busy reader before it drops some and reports an overflow.
   * About 1 KiB per event. Default 64 MiB; 4 KiB to 1 GiB. It is kernel
   * memory, used only while events wait to be read.
   */
  receiveBufferBytes?: number;
}

/** The events a ConntrackEventStream emits, with their arguments. */
export interface ConntrackEventStreamEvents {
  /** TCP events (IPv4 and IPv6), in the order the kernel sent them. */
  events: [events: ConntrackEvent[], batch: EventBatch];
  /**
   * The kernel dropped events because the receive buffer was full. Whoever
   * keeps a copy of the table must read it again (dump()) to get back in step.
   */
  overflow: [];
  /** The socket failed; the stream is closed. */
  error: [error: ConntrackError];
  close: [];
}

// Room for a burst of about 100,000 events (the kernel doubles the size
// asked for, and an event takes about 1 KiB of it): with 8 MiB, bursts the
// exporter keeps up with on average overflowed, and each cost a re-read of
// the whole table, several times the CPU of the events themselves.
export const DEFAULT_RECEIVE_BUFFER_BYTES = 64 * 1024 * 1024;
export const MIN_RECEIVE_BUFFER_BYTES = 4096;
export const MAX_RECEIVE_BUFFER_BYTES = 1024 * 1024 * 1024;

const EVENT_TYPES: Record<number, ConntrackEventType> = { 1: 'new', 2: 'update', 3: 'destroy' };
const EVENT_TYPE_OFFSET = 3;

/**
 * Conntrack events of the current network namespace, as they happen. Like
 * a socket, it must be closed; unlike one, it does not keep the process
 * running by itself (call ref() for that).
 */
export class ConntrackEventStream extends EventEmitter<ConntrackEventStreamEvents> {
  private readonly native: NativeEventStream;
  private open = true;

  /** Use openEvents(). */
  constructor(receiveBufferBytes: number) {
    super();
    this.native = new (addon().EventStream)(
      receiveBufferBytes,
      (records, drained) => {
        const batch: EventBatch = { drained, receivedAtMs: Date.now() };
        this.emit('events', decodeEvents(records), batch);
      },
      () => this.emit('overflow'),
      (error) => {
        this.open = false;
        this.emit('error', error);
        this.emit('close');
      },
    );
  }

  /** The receive buffer as the kernel reports it: about twice the size asked for, bookkeeping included. */
  get receiveBufferBytes(): number {
    return this.native.receiveBufferBytes;
  }

  get closed(): boolean {
    return !this.open;
  }

  /** Unsubscribes; no event is emitted afterwards. Idempotent. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.native.close();
    this.emit('close');
  }

  /** Keeps the process running while the stream is open. */
  ref(): this {
    this.native.ref();
    return this;
  }

  /** Lets the process exit with the stream open (the default). */
  unref(): this {
    this.native.unref();
    return this;
  }
}

/**
 * Subscribes to the conntrack events (new, update, destroy) of the current
 * network namespace. Needs CAP_NET_ADMIN; throws a ConntrackError (e.g. code
 * "EPERM") when the kernel refuses, or a RangeError for a bad option.
 */
export function openEvents(options: EventStreamOptions = {}): ConntrackEventStream {
  const size = options.receiveBufferBytes ?? DEFAULT_RECEIVE_BUFFER_BYTES;
  if (
    !Number.isInteger(size) ||
    size < MIN_RECEIVE_BUFFER_BYTES ||
    size > MAX_RECEIVE_BUFFER_BYTES
  ) {
    throw new RangeError(
      `receiveBufferBytes must be a whole number from ${MIN_RECEIVE_BUFFER_BYTES} to ${MAX_RECEIVE_BUFFER_BYTES}, not ${size}`,
    );
  }
  return new ConntrackEventStream(size);
}

/** Decodes a batch of packed event records (see native/conntrack/record.h). Pure. */
export function decodeEvents(records: ArrayBuffer): ConntrackEvent[] {
  // An empty batch (a drain report) may come detached; it holds no events.
  if (records.byteLength === 0) return [];
  const entries = decodeRecords(records);
  const bytes = new Uint8Array(records);
  return entries.map((entry, i) => {
    const byte = bytes[i * RECORD_SIZE + EVENT_TYPE_OFFSET] ?? 0;
    const type = EVENT_TYPES[byte];
    if (type === undefined) throw new Error(`event record ${i} has unknown event type ${byte}`);
    return { type, entry };
  });
}
