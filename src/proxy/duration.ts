import { durationMs } from '../duration';
import { UsageError } from '../errors';

export { formatDuration } from '../duration';

/**
 * Parses a Go-style duration ('10s', '1m30s', '250ms') or a plain number of
 * seconds, to milliseconds. Go's syntax because the original proxy's users
 * write durations that way.
 */
export function parseDuration(text: string, flag: string): number {
  const ms = durationMs(text);
  if (!Number.isFinite(ms)) {
    throw new UsageError(
      `${flag} ${JSON.stringify(text)}: expected a duration such as 10s, 500ms or 1m30s`,
    );
  }
  return ms;
}
