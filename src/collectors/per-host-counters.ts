import { CounterSeries } from '../model/per-host-counters';
import { CounterRows } from '../table/reader';
import { ScrapeReader } from './scrape';
import { expectedBytes, familyHeads, LabelCache, TextCollector } from './text-format';

/** One counter family per kind of a per-host counter family of the scrape. */
export interface PerHostCounterFamilies<K extends string> {
  /** Which of the scrape's counter rows these families are written from. */
  rows: keyof CounterRows;
  kinds: readonly K[];
  family: (kind: K) => { name: string; help: string };
  /** Asked after the scrape was read: false leaves the families out of this scrape. */
  present?: () => boolean;
}

/**
 * Counter families from per-host counters (see PerHostCounters), one per
 * kind, labelled host, port and direction, written as text like the
 * connection gauges. All of them come from one reading of the scrape, so
 * they agree with each other.
 */
export function perHostCounterFamilies<K extends string>(
  source: ScrapeReader<'counted'>,
  { rows, kinds, family, present }: PerHostCounterFamilies<K>,
): TextCollector {
  const heads = familyHeads(kinds, family, 'counter');
  const labels = new LabelCache();
  return {
    async collect() {
      // Read first: the scrape folds the counts whether or not they are written.
      const series = ((await source.get()).counted?.[rows] ?? []) as readonly CounterSeries<K>[];
      if (present !== undefined && !present()) return undefined;
      labels.startScrape();
      const labelSets = series.map((one) => labels.get(one));
      return {
        expectedBytes: expectedBytes(series.length * kinds.length),
        write(out) {
          for (const { key: kind, name, header } of heads) {
            out.text(header);
            for (let i = 0; i < series.length; i++) {
              out.sample(name, labelSets[i]!, series[i]!.values[kind]);
            }
          }
        },
      };
    },
  };
}
