import { constants, gzipSync } from 'node:zlib';

/**
 * Compresses a body. Level 1 (as nginx compresses by default): on a scrape
 * of 1,000 hosts (make bench's table at 100k entries) it takes half the CPU
 * of zlib's default level 6, for 48 KiB instead of 34 KiB from 511 KiB;
 * every Prometheus scrape asks for gzip, so its CPU is paid at every scrape.
 *
 * On the JS thread, not in the thread pool: handing the work to a thread
 * and taking the chunks back cost 0.4-0.6 ms more CPU per scrape than the
 * compression itself (~1.1 ms for those 514 KiB), measured with two
 * exporters side by side on that table, kept-alive gzip scrapes taken in
 * turn. The event loop waits that long, about as long as for writing the
 * text, once per scrape however many clients ask (SharedRender).
 */
export function gzipBody(body: Buffer): Buffer {
  return gzipSync(body, { level: constants.Z_BEST_SPEED });
}

/** One rendering of the metrics, served to every request that asked while it was made. */
export interface Rendered {
  /**
   * UTF-8, encoded once for every request. Also cheaper to send than the
   * string: Node prepends the headers to a string body, copying all of it.
   */
  body: Buffer;
  /** The body gzipped, compressed once however many clients ask for it. */
  gzipped(): Buffer;
  /** Each request that got this rendering calls it once, when its response is over. */
  release(): void;
}

/**
 * Shares one render between concurrent requests: the collectors already
 * share one read of the table, and this also shares the serialisation and
 * the compression, so a burst of scrapes costs about as much as one.
 * A request that arrives after a render finished gets a new one.
 *
 * Once every request that got a rendering has released it (its response
 * finished or was cut off), nothing reads the body any more (gzip reads it
 * synchronously, in gzipped()) and it goes to `recycle`, which may write
 * the next scrape into the same memory.
 */
export class SharedRender {
  // The render in flight, and how many requests were given it.
  private current: { rendered: Promise<Rendered>; users: { count: number } } | undefined;

  constructor(
    private readonly render: () => Promise<string | Buffer>,
    private readonly recycle?: (body: Buffer) => void,
    private readonly compress: (body: Buffer) => Buffer = gzipBody,
  ) {}

  get(): Promise<Rendered> {
    if (this.current === undefined) {
      const users = { count: 0 };
      this.current = { rendered: this.start(users), users };
    }
    this.current.users.count++;
    return this.current.rendered;
  }

  /** A render whose body goes to `recycle` once `users` are down to none. */
  private start(users: { count: number }): Promise<Rendered> {
    return this.render()
      .then((text): Rendered => {
        const body = typeof text === 'string' ? Buffer.from(text) : text;
        let compressed: Buffer | undefined;
        return {
          body,
          gzipped: () => (compressed ??= this.compress(body)),
          release: () => {
            const { recycle } = this;
            if (--users.count > 0 || recycle === undefined || typeof text === 'string') return;
            recycle(body);
          },
        };
      })
      .finally(() => {
        this.current = undefined;
      });
  }
}

/** Whether an Accept-Encoding header allows gzip (not refused with q=0). */
export function acceptsGzip(header: string | undefined): boolean {
  let gzipQuality: number | undefined;
  let anyQuality: number | undefined;
  for (const part of (header ?? '').split(',')) {
    const [coding, ...parameters] = part.trim().toLowerCase().split(';');
    const qParameter = parameters.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const quality = qParameter === undefined ? 1 : Number(qParameter.slice(2));
    if (coding === 'gzip' || coding === 'x-gzip') gzipQuality = quality;
    else if (coding === '*') anyQuality = quality;
  }
  const quality = gzipQuality ?? anyQuality ?? 0;
  return Number.isFinite(quality) && quality > 0;
}
