import { HostGroup } from './aggregate';
import { Direction } from './flow';

/** How many connections of one (remote host, service port, direction) appeared and ended. */
export interface LifecycleSeries {
  host: string;
  port: number;
  direction: Direction;
  opened: number;
  closed: number;
}

interface Tally extends LifecycleSeries {
  lastChangeMs: number;
}

/** The labels of one group of connections. */
export type GroupLabels = Pick<HostGroup, 'host' | 'port' | 'direction'>;

/** The key of a (direction, host, port) group, shared with the live table's groups. */
export function groupKey(labels: GroupLabels): string {
  return `${labels.direction}|${labels.host}|${labels.port}`;
}

/**
 * The opened and closed tallies behind conntrack_connections_{opened,closed}_total.
 *
 * They only grow, so they cannot simply follow the table: a tally outlives
 * the last connection of its group, or a connection that came and went
 * between two scrapes would never be seen. It is dropped once its group has
 * no connection and it has not moved for `retentionMs`, which bounds memory
 * on a host that talks to ever new peers; if the group comes back, its
 * series starts again from zero, which Prometheus reads as a counter reset.
 */
export class LifecycleCounts {
  private readonly tallies = new Map<string, Tally>();

  constructor(
    private readonly retentionMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  opened(key: string, labels: GroupLabels): void {
    this.tally(key, labels).opened++;
  }

  closed(key: string, labels: GroupLabels): void {
    this.tally(key, labels).closed++;
  }

  /** Every tally to export; first forgets those idle too long whose group `isLive` denies. */
  series(isLive: (key: string) => boolean): LifecycleSeries[] {
    const oldest = this.now() - this.retentionMs;
    const result: LifecycleSeries[] = [];
    for (const [key, tally] of this.tallies) {
      if (tally.lastChangeMs < oldest && !isLive(key)) {
        this.tallies.delete(key);
        continue;
      }
      const { host, port, direction, opened, closed } = tally;
      result.push({ host, port, direction, opened, closed });
    }
    return result;
  }

  private tally(key: string, labels: GroupLabels): Tally {
    let tally = this.tallies.get(key);
    if (tally === undefined) {
      tally = {
        host: labels.host,
        port: labels.port,
        direction: labels.direction,
        opened: 0,
        closed: 0,
        lastChangeMs: 0,
      };
      this.tallies.set(key, tally);
    }
    tally.lastChangeMs = this.now();
    return tally;
  }
}
