/**
 * The background check of entries that send no events (the silent entries'
 * list, under net.netfilter.nf_conntrack_events=2): a slice of them looked
 * up every tick, paced so that each one is checked at least once per
 * interval, off the scrape path. The list keeps the round's position.
 */

export interface SilentWatchOptions {
  /** Every entry silent at the start of a round is checked within this long. */
  intervalMs: number;
  /** How often a slice is checked. */
  tickMs: number;
  /** Silent entries not yet checked in this round (an event may have named some since it started). */
  remaining(): number;
  /** The next check starts a new round, over the entries silent now. */
  rewind(): void;
  /**
   * Looks up the next `count` entries of the round and applies what was
   * found; resolves whether that ended the round. Rejects when the lookup
   * failed.
   */
  check(count: number): Promise<boolean>;
  /** False while a read of the whole table runs or waits: the slice waits for the next tick. */
  mayCheck(): boolean;
  /** A check ended, in success or failure (a read held back by it may start). */
  checked(): void;
  /** A lookup failed: the caller reads the whole table instead, in the background. */
  fallback(error: Error): void;
  now?: () => number;
  /** Runs `run` after `ms`; returns what cancels it. */
  schedule?: (run: () => void, ms: number) => () => void;
}

const realSchedule = (run: () => void, ms: number): (() => void) => {
  const timer = setTimeout(run, ms).unref();
  return () => clearTimeout(timer);
};

/**
 * Rounds over the silent entries. Each tick checks its share of what is
 * left of the round, counted from the time left before the round's
 * deadline: a tick skipped for a read of the whole table, or a slow lookup,
 * makes the next slices larger, not the round longer. A round that is over
 * starts the next one at the following tick. After a failed lookup the
 * caller has read the whole table, which checked every entry: the next
 * round waits one interval.
 */
export class SilentWatch {
  private roundOver = true;
  private deadline = 0;
  private notBefore = 0;
  private checking = false;
  private stopped = true;
  private cancel: (() => void) | undefined;
  private readonly now: () => number;
  private readonly schedule: (run: () => void, ms: number) => () => void;

  constructor(private readonly options: SilentWatchOptions) {
    this.now = options.now ?? Date.now;
    this.schedule = options.schedule ?? realSchedule;
  }

  /** Whether a check is under way (no read of the whole table may start meanwhile). */
  get busy(): boolean {
    return this.checking;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.next(this.options.tickMs);
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
    this.cancel = undefined;
  }

  /** New silent entries were found: the next tick starts a round with them. */
  restart(): void {
    this.roundOver = true;
    this.notBefore = 0;
  }

  private next(ms: number): void {
    if (this.stopped) return;
    this.cancel = this.schedule(() => this.tick(), Math.max(0, ms));
  }

  private tick(): void {
    this.cancel = undefined;
    const { options } = this;
    const started = this.now();
    if (this.roundOver) {
      if (started < this.notBefore) {
        this.next(Math.min(options.tickMs, this.notBefore - started));
        return;
      }
      options.rewind();
      this.roundOver = false;
      this.deadline = started + options.intervalMs;
    }
    const left = options.remaining();
    if (left === 0) this.roundOver = true;
    if (left === 0 || !options.mayCheck()) {
      this.next(options.tickMs);
      return;
    }
    const ticksLeft = Math.max(1, Math.floor((this.deadline - started) / options.tickMs));
    this.checking = true;
    options.check(Math.ceil(left / ticksLeft)).then(
      (wrapped) => {
        if (wrapped) this.roundOver = true;
        this.done(started);
      },
      (error: Error) => {
        this.roundOver = true;
        this.notBefore = this.now() + options.intervalMs;
        this.done(started);
        options.fallback(error);
      },
    );
  }

  private done(started: number): void {
    this.checking = false;
    this.options.checked();
    this.next(started + this.options.tickMs - this.now());
  }
}
