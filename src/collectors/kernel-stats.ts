import { KERNEL_STATS, KernelStat, KernelStats } from '../conntrack/kernel-stats';
import { Logger } from '../log';
import { SingleFlight } from './single-flight';
import { expectedBytes, familyHeader, familyHeads, TextCollector } from './text-format';

const HELP: Record<KernelStat, string> = {
  found: 'Lookups in the conntrack table that found an existing entry.',
  invalid:
    'Packets conntrack could not track (malformed, or not fitting the state of their connection); not dropped by conntrack itself.',
  insert:
    'Entries inserted into the conntrack table through ctnetlink (conntrack -I, conntrackd); recent kernels count no others.',
  insert_failed:
    'Entries that could not be inserted because an entry with the same tuple was already there; their packet is dropped.',
  drop: 'Packets dropped because no new entry could be made: the table was full and nothing could be evicted, or memory ran out ("nf_conntrack: table full, dropping packet").',
  early_drop:
    'Entries evicted to make room for a new one while the table was full (entries not yet assured go first).',
  error: 'Packets a protocol handler found in error (e.g. ICMP errors that fit no entry).',
  search_restart:
    'Lookups restarted because the table changed under them (an entry moved, or the hash table was resized).',
  clash_resolve:
    'Clashes of two packets creating the same entry at once (common with UDP DNS) resolved by keeping one entry.',
  chaintoolong:
    'Entries refused because their hash chain was too long (a hash attack, or too few nf_conntrack_buckets); their packet is dropped.',
};

/** The family of one statistic. */
export const kernelStatName = (stat: KernelStat) => `conntrack_kernel_stat_${stat}_total`;

const FAILURES = 'conntrack_exporter_kernel_stats_read_failures_total';
const NO_LABELS = Buffer.alloc(0);

/**
 * conntrack_kernel_stat_<name>_total: the kernel's statistics of the watched
 * namespace's conntrack table, summed over CPUs, read at every scrape (one
 * small netlink request; concurrent scrapes share it), in both modes.
 *
 * Every family is always declared; a statistic gets a sample only when this
 * scrape read it: a statistic this kernel does not send has none, and a
 * failed read leaves all of them out rather than reporting 0 (which rate()
 * would take for a counter reset). A failed read counts in
 * conntrack_exporter_kernel_stats_read_failures_total and is logged once,
 * until a read works again.
 */
export function kernelStatsCollector(read: () => Promise<KernelStats>, log: Logger): TextCollector {
  const flight = new SingleFlight(read);
  const heads = familyHeads(
    KERNEL_STATS,
    (stat) => ({ name: kernelStatName(stat), help: HELP[stat] }),
    'counter',
  );
  const failuresHeader = familyHeader(
    FAILURES,
    "Scrapes whose read of the kernel's conntrack statistics failed; the conntrack_kernel_stat_* samples are left out of those scrapes.",
    'counter',
  );
  const failuresName = Buffer.from(FAILURES);
  let failures = 0;
  let failing = false;
  return {
    async collect() {
      let totals: KernelStats['totals'] = {};
      try {
        totals = (await flight.get()).totals;
        if (failing) log.info("the kernel's conntrack statistics are read again");
        failing = false;
      } catch (error) {
        failures++;
        if (!failing) {
          log.warn(
            `cannot read the kernel's conntrack statistics: ${(error as Error).message}; ` +
              'the conntrack_kernel_stat_* samples are left out until a read works',
          );
        }
        failing = true;
      }
      return {
        expectedBytes: expectedBytes(heads.length + 1),
        write(out) {
          for (const { key, name, header } of heads) {
            out.text(header);
            const value = totals[key];
            if (value !== undefined) out.sample(name, NO_LABELS, value);
          }
          out.text(`\n\n${failuresHeader}`);
          out.sample(failuresName, NO_LABELS, failures);
        },
      };
    },
  };
}
