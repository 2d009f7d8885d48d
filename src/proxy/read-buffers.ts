/**
 * Where sockets read into. Every socket starts out reading into one small
 * buffer shared by all sockets, so an idle connection costs no buffer at
 * all. That is safe because a read's callback runs before any other read,
 * and the relay writes a copy of what lands there (small by definition).
 * A socket whose read fills the small buffer gets a large one of its own,
 * written straight from, so a bulk transfer makes few system calls and no
 * copies; it goes back to the shared one once its reads are small again.
 * Large buffers are recycled through a short free list: connection churn
 * does not hammer malloc, and a burst does not pin its memory forever.
 */
export const SMALL_READ_BYTES = 4096;
export const LARGE_READ_BYTES = 128 * 1024;
const MAX_SPARE_LARGE = 32;

export class ReadBuffers {
  /** Shared by every socket not in a bulk transfer; never referenced by a pending write. */
  readonly shared = Buffer.allocUnsafeSlow(SMALL_READ_BYTES);
  private readonly spare: Buffer[] = [];

  constructor(readonly largeBytes = LARGE_READ_BYTES) {}

  large(): Buffer {
    return this.spare.pop() ?? Buffer.allocUnsafeSlow(this.largeBytes);
  }

  /** Only for a large buffer that no pending write refers to any more. */
  release(buffer: Buffer): void {
    if (buffer !== this.shared && this.spare.length < MAX_SPARE_LARGE) {
      this.spare.push(buffer);
    }
  }
}
