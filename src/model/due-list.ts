/**
 * Keys by the second in which something about them falls due: the live
 * table's entries by when their timeout runs out (see LiveTable.dueKeys).
 * A key may be listed more than once, and an item may no longer hold
 * (the entry changed since): whoever takes the keys checks them. Buckets
 * per second, not a sorted structure: adding is a Map lookup and a push,
 * cheap enough for every event of a burst.
 */
export class DueList {
  private readonly buckets = new Map<number, string[]>();

  /** Lists `key` as due in `second`. */
  add(key: string, second: number): void {
    const bucket = this.buckets.get(second);
    if (bucket === undefined) this.buckets.set(second, [key]);
    else bucket.push(key);
  }

  /** Takes off the list every key due in `second` or before, in no particular order. */
  takeUntil(second: number): string[] {
    const taken: string[] = [];
    for (const [due, keys] of this.buckets) {
      if (due > second) continue;
      for (const key of keys) taken.push(key);
      this.buckets.delete(due);
    }
    return taken;
  }

  /** Keys listed, counting each time a key was added. */
  get size(): number {
    let size = 0;
    for (const keys of this.buckets.values()) size += keys.length;
    return size;
  }
}
