/**
 * Lets one log line through per interval and counts the rest, so a target
 * that is down under load gives a line every few seconds, not one per client.
 */
export class LogThrottle {
  private lastAt = Number.NEGATIVE_INFINITY;
  private suppressed = 0;

  constructor(private readonly intervalMs: number) {}

  /** The number of lines held back since the last one, or undefined to hold this one back. */
  admit(now = Date.now()): number | undefined {
    if (now - this.lastAt < this.intervalMs) {
      this.suppressed++;
      return undefined;
    }
    const held = this.suppressed;
    this.lastAt = now;
    this.suppressed = 0;
    return held;
  }
}
