import type net from 'node:net';
import type { ReadBuffers } from './read-buffers';
import type { DirectionBytes } from './traffic';

/**
 * Moves bytes one way: the source socket reads straight into our buffer
 * (net's `onread`), we hand that buffer to the sink, and if the sink cannot
 * take it all at once we stop reading until it has. So at most one buffer
 * per direction waits in this process: a slow side slows the other down
 * through TCP flow control, never through our memory.
 */
export class Pump {
  source: net.Socket | undefined;
  sink: net.Socket | undefined;
  private buffer: Buffer;
  /** Bytes of a write the kernel has not fully taken yet (0: none pending). */
  private pendingBytes = 0;

  constructor(
    private readonly buffers: ReadBuffers,
    private readonly meter: DirectionBytes | null,
  ) {
    this.buffer = buffers.shared;
  }

  /** net calls this after every read for the buffer of the next read. */
  readonly nextBuffer = (): Buffer => this.buffer;

  /** Returns false to stop the source reading (net's `onread` contract). */
  readonly onRead = (length: number): boolean => {
    const buffer = this.buffer;
    // The shared buffer takes the next socket's read as soon as we return.
    const chunk =
      buffer === this.buffers.shared
        ? Buffer.from(buffer.subarray(0, length))
        : buffer.subarray(0, length);
    return this.forward(chunk, true);
  };

  /** The same for a source read through stream events; false: pause it. */
  readonly onChunk = (chunk: Buffer): boolean => this.forward(chunk, false);

  private forward(chunk: Buffer, ownBuffer: boolean): boolean {
    const sink = this.sink;
    const length = chunk.length;
    if (this.meter !== null) this.meter.read += length;
    if (sink === undefined || sink.destroyed) return false;
    sink.write(chunk, this.afterWrite);
    // The write finished synchronously when nothing is left queued: the
    // buffer is ours again and reading can go on without a round trip.
    if (sink.writableLength === 0) {
      if (this.meter !== null) this.meter.written += length;
      if (ownBuffer) this.resizeAfter(length);
      return true;
    }
    this.pendingBytes = length;
    return false;
  }

  private readonly afterWrite = (error?: Error | null): void => {
    // Callbacks of earlier synchronous writes also land here; only the one
    // that leaves the sink empty completes the pending write.
    if (error || this.pendingBytes === 0 || this.sink?.writableLength !== 0) return;
    if (this.meter !== null) this.meter.written += this.pendingBytes;
    this.pendingBytes = 0;
    this.source?.resume();
  };

  private resizeAfter(length: number): void {
    const { shared } = this.buffers;
    if (this.buffer === shared) {
      if (length === shared.length) this.buffer = this.buffers.large();
    } else if (length <= shared.length) {
      this.buffers.release(this.buffer);
      this.buffer = shared;
    }
  }

  /** Call once both sockets have closed, when no write can refer to the buffer. */
  release(): void {
    this.buffers.release(this.buffer);
  }
}
