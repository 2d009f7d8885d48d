/**
 * Hands out the result of `take` so that everything asking while it runs
 * gets the same one: the collectors of one scrape, and concurrent scrapes,
 * share a single read of the table. A later ask takes anew; a failure is
 * not kept for it.
 */
export class SingleFlight<T> {
  private inFlight: Promise<T> | undefined;

  constructor(private readonly take: () => Promise<T>) {}

  get(): Promise<T> {
    this.inFlight ??= this.take().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }
}
