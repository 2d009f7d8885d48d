import { readNetFile } from '../conntrack/netns';
import { Logger } from '../log';
import { LiveSync } from './live-sync';

export const EVENTS_SYSCTL = '/proc/sys/net/netfilter/nf_conntrack_events';

/**
 * Follows net.netfilter.nf_conntrack_events while events mode runs, read at
 * each scrape like the table's size. Set to 0, the kernel gives entries
 * opened from then on no events at all, so the live table silently falls
 * behind: scrapes then read the whole table, as dump mode does, after one
 * warning. Set back, one read brings the live table up to date; the entries
 * it did not know opened meanwhile and will never send an event, so it
 * follows them as silent entries (as with the setting 2) until they end.
 */
export class EventsSwitch {
  private off = false;
  private recovering: Promise<boolean> | undefined;

  constructor(
    private readonly live: LiveSync,
    private readonly log: Logger,
    private readonly sysctlFile = EVENTS_SYSCTL,
  ) {}

  /** Whether the live table can answer a scrape now; false: read the table instead. */
  async liveUsable(): Promise<boolean> {
    // A setting that cannot be read now is taken as unchanged.
    const setting = await readNetFile(this.sysctlFile).then(
      (text) => text.trim(),
      () => undefined,
    );
    if (this.recovering) return this.recovering;
    if (setting === '0') {
      if (!this.off) {
        this.off = true;
        this.log.warn(
          'conntrack events were turned off (net.netfilter.nf_conntrack_events=0): reading the ' +
            'whole table at every scrape until they are back on',
        );
      }
      return false;
    }
    if (!this.off || setting === undefined) return true;
    this.recovering = this.recover().finally(() => (this.recovering = undefined));
    return this.recovering;
  }

  private async recover(): Promise<boolean> {
    try {
      await this.live.resync('events_on', true);
    } catch {
      // The read's failure is logged by the sync; the next scrape tries again.
      return false;
    }
    this.off = false;
    this.log.info(
      'conntrack events are back on (net.netfilter.nf_conntrack_events); the table was read ' +
        'again and events keep it current',
    );
    return true;
  }
}
