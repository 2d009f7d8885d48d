import { Writable } from 'node:stream';

import { Logger } from '../log';

/** Bytes waiting for a slow reader of stdout before lines are dropped instead. */
export const MAX_QUEUED_BYTES = 16 * 1024 * 1024;

/**
 * The --log-events output: lines written to stdout a batch at a time (one
 * write per batch of events, not per line).
 *
 * It never blocks the event loop on a slow reader and never grows without
 * bound: a pipe is written asynchronously, and once MAX_QUEUED_BYTES wait,
 * further lines are dropped and counted until the reader catches up. A
 * closed stdout (EPIPE) stops the log with one warning instead of killing
 * the exporter.
 */
export class EventLog {
  /** Lines not written because the reader fell behind or went away. */
  dropped = 0;
  private pending: string[] = [];
  private stopped = false;
  private behind = false;

  constructor(
    private readonly out: Writable,
    private readonly log: Logger,
    private readonly maxQueuedBytes = MAX_QUEUED_BYTES,
  ) {
    out.on('error', (error: NodeJS.ErrnoException) => {
      if (this.stopped) return;
      this.stopped = true;
      this.log.warn(`the event log stopped: stdout failed (${error.code ?? error.message})`);
    });
  }

  /** Queues a line; the lines queued in one turn of the event loop go out in one write. */
  add(line: string): void {
    if (this.stopped) {
      this.dropped++;
      return;
    }
    if (this.pending.length === 0) setImmediate(() => this.flush());
    this.pending.push(line);
  }

  /** Writes the lines added since the last flush. */
  flush(): void {
    const lines = this.pending;
    if (lines.length === 0) return;
    this.pending = [];
    if (this.stopped || this.out.destroyed) {
      this.dropped += lines.length;
      return;
    }
    if (this.out.writableLength > this.maxQueuedBytes) {
      if (!this.behind) {
        this.behind = true;
        this.log.warn(
          'stdout is not read fast enough: dropping event log lines until it catches up',
        );
      }
      this.dropped += lines.length;
      return;
    }
    this.behind = false;
    this.out.write(`${lines.join('\n')}\n`);
  }
}
