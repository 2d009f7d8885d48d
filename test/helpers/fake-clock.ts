/** A clock and timers the test moves by hand, for code that takes `now` and `schedule`. */
export class FakeClock {
  now = 0;
  private timers: { at: number; run: () => void }[] = [];

  readonly time = (): number => this.now;

  readonly schedule = (run: () => void, ms: number): (() => void) => {
    const timer = { at: this.now + Math.max(0, ms), run };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((other) => other !== timer);
    };
  };

  get pending(): number {
    return this.timers.length;
  }

  /**
   * Moves the clock by `ms`, running each timer when its time comes, in
   * order, and letting the promises it starts settle before the next.
   */
  async advance(ms: number): Promise<void> {
    const until = this.now + ms;
    await settle();
    for (;;) {
      const due = this.timers.filter((timer) => timer.at <= until).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((timer) => timer !== due);
      this.now = due.at;
      due.run();
      await settle();
    }
    this.now = until;
  }
}

/** Lets every promise chain that is ready run to its end. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}
