/**
 * Durations as every option of the project takes them: Go's syntax
 * ("250ms", "2s", "1m30s"), which the tools we replace and exporter-toolkit
 * use, or a plain number of seconds ("300"). The one parser and the one
 * checker of every duration option.
 */
import { UsageError } from '../errors';

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * The longest delay a Node.js timer holds: a longer one fires after 1 ms,
 * which for a drain timeout would reset every connection at once.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Milliseconds of `text`, or NaN when it is not a duration. Callers check the range. */
export function durationMs(text: string): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let match = part.exec(trimmed); match !== null; match = part.exec(trimmed)) {
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
    consumed = part.lastIndex;
  }
  return trimmed !== '' && consumed === trimmed.length ? total : Number.NaN;
}

/** Milliseconds in the largest unit that is exact: 300000 -> "5m", 250 -> "250ms". */
export function formatDuration(ms: number): string {
  for (const unit of ['h', 'm', 's'] as const) {
    const size = UNIT_MS[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * A duration option's value in whole milliseconds, refused (one UsageError)
 * outside [minMs, maxMs] or finer than a millisecond, which timers cannot
 * count; maxMs is at most what a timer holds. Bare seconds like the other
 * interval flags; the range is what catches "--dns-budget 250" meant as ms.
 */
export function checkDuration(
  value: string,
  flag: string,
  minMs = 0,
  maxMs = MAX_TIMER_MS,
): number {
  const ms = wholeMs(value, flag);
  if (!(ms >= minMs && ms <= maxMs)) {
    const range = [
      minMs > 0 ? 'above zero' : '',
      maxMs < MAX_TIMER_MS ? `of at most ${formatDuration(maxMs)}` : '',
    ].filter((part) => part !== '');
    throw new UsageError(
      `${flag}: '${value}' is not a duration${range.length ? ` ${range.join(' and ')}` : ''}; ` +
        `write seconds or a number and a unit, e.g. 250ms, 2s, 5m or 1h${beyondTimer(ms)}`,
    );
  }
  return ms;
}

/** An interval of at least a second, or "0" for never; in milliseconds. */
export function checkInterval(value: string, flag: string): number {
  const ms = wholeMs(value, flag);
  if (!(ms === 0 || (ms >= 1000 && ms <= MAX_TIMER_MS))) {
    throw new UsageError(
      `${flag}: '${value}' is not an interval of at least 1s; write seconds or a number and a unit, ` +
        `e.g. 300, 5m or 1h (0: never)${beyondTimer(ms)}`,
    );
  }
  return ms;
}

/**
 * Whole milliseconds of `value`, or NaN when it is not a duration (the
 * caller words the range it wants). A value finer than a millisecond is
 * refused here: timers count whole milliseconds, and Node.js throws a
 * RangeError for some fractions.
 */
export function wholeMs(value: string, flag: string): number {
  const ms = durationMs(value);
  const whole = Math.round(ms);
  // Decimal fractions are not exact in binary: "1.1s" is 1100.0000000000002 ms.
  if (Math.abs(ms - whole) > 1e-9 * Math.max(1, ms)) {
    throw new UsageError(
      `${flag}: '${value}' is finer than a millisecond, the smallest step of a timer; ` +
        'give whole milliseconds, e.g. 2ms',
    );
  }
  return whole;
}

/** Refuses what a timer cannot hold, for a caller with no upper bound of its own. */
export function checkTimerHolds(ms: number, value: string, flag: string): number {
  if (ms > MAX_TIMER_MS) {
    throw new UsageError(
      `${flag}: '${value}' is longer than a timer can hold; give ${LONGEST} or less`,
    );
  }
  return ms;
}

/** 596h: the longest whole number of hours a timer holds (2^31-1 ms is about 24.8 days). */
const LONGEST = `${Math.floor(MAX_TIMER_MS / 3_600_000)}h`;

function beyondTimer(ms: number): string {
  return ms > MAX_TIMER_MS ? `; at most ${LONGEST}, the longest a timer holds` : '';
}
