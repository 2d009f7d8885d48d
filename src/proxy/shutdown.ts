import os from 'node:os';
import { formatDuration } from '../options/duration';
import type { Logger } from '../log';
import type { TcpProxy } from './tcp-proxy';

const PROGRESS_INTERVAL_MS = 5_000;
const SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/** Exit codes: 0 drained, 1 drain timeout (connections were cut), 128+n a second signal. */
export const EXIT_DRAINED = 0;
export const EXIT_DRAIN_TIMEOUT = 1;

/**
 * Waits for SIGTERM or SIGINT, then drains: stop accepting, let open
 * connections finish (up to drainTimeoutMs, 0 for no limit), saying in
 * the log what it waits for. A second signal stops at once. Resolves with
 * the exit code.
 */
export function drainOnSignal(
  proxy: TcpProxy,
  drainTimeoutMs: number,
  log: Logger,
): Promise<number> {
  return new Promise((resolve) => {
    let draining = false;
    let progressTimer: NodeJS.Timeout | undefined;
    let deadlineTimer: NodeJS.Timeout | undefined;
    let finished = false;

    const finish = (code: number): void => {
      if (finished) return;
      finished = true;
      clearInterval(progressTimer);
      clearTimeout(deadlineTimer);
      for (const signal of SIGNALS) process.off(signal, onSignal);
      resolve(code);
    };

    function onSignal(signal: NodeJS.Signals): void {
      if (draining) {
        log.warn(`${signal} again: stopping now, resetting ${plural(proxy.openConnections)}`);
        proxy.resetAll();
        finish(128 + (os.constants.signals[signal] ?? 0));
        return;
      }
      draining = true;
      proxy.stopAccepting();
      const open = proxy.openConnections;
      const limit =
        drainTimeoutMs > 0 ? `at most ${formatDuration(drainTimeoutMs)}` : 'no time limit';
      log.info(
        open === 0
          ? `${signal} received: stopped accepting; no open connection to wait for`
          : `${signal} received: stopped accepting; waiting for ${plural(open)} to finish ` +
              `(${limit}; send ${signal} again to stop now)`,
      );
      progressTimer = setInterval(() => {
        log.info(`draining: still waiting for ${plural(proxy.openConnections)}`);
      }, PROGRESS_INTERVAL_MS);
      if (drainTimeoutMs > 0) {
        deadlineTimer = setTimeout(() => {
          log.warn(
            `drain timeout (${formatDuration(drainTimeoutMs)}): ` +
              `resetting ${plural(proxy.openConnections)} still open`,
          );
          proxy.resetAll();
          finish(EXIT_DRAIN_TIMEOUT);
        }, drainTimeoutMs);
      }
      void proxy.whenIdle().then(() => {
        if (finished) return;
        if (open > 0) log.info('drained: every connection has finished; exiting');
        finish(EXIT_DRAINED);
      });
    }

    for (const signal of SIGNALS) process.on(signal, onSignal);
  });
}

function plural(connections: number): string {
  return `${connections} open connection${connections === 1 ? '' : 's'}`;
}
