/**
 * Retry schedules and the durations they are written in. A schedule lists the waits
 * between attempts: `["30s","2m","10m"]` means attempts at 0, +30 s, +2 min and +10 min
 * after the previous one, four attempts in all.
 */

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;
const DURATION = /^(\d+)(s|m|h|d)$/;

const MAX_SCHEDULE_LENGTH = 20;
/** A single wait longer than this is almost surely a typo (and outlives any download link). */
const MAX_RETRY_DELAY_SECONDS = 7 * 86_400;

/** A pattern of the whole numbers 1 to `max` (leading zeros taken, as parseDuration takes them). */
function upTo(max: number): string {
  const digits = String(max);
  const shorter = Array.from({ length: digits.length - 1 }, (_, k) => (k === 0 ? '[1-9]' : `[1-9]\\d{${k}}`));
  const same = [...digits].flatMap((digit, i) => {
    const low = i === 0 ? 1 : 0;
    const rest = digits.length - i - 1;
    return Number(digit) > low ? [`${digits.slice(0, i)}[${low}-${Number(digit) - 1}]${rest ? `\\d{${rest}}` : ''}`] : [];
  });
  return `0*(${[...shorter, ...same, digits].join('|')})`;
}

/** One wait of a retry schedule as parseSchedule takes it: 1 second to 7 days, in one unit. */
export const RETRY_WAIT_PATTERN = `^(${(Object.entries(UNIT_SECONDS) as Array<[string, number]>)
  .map(([unit, seconds]) => `(${upTo(Math.floor(MAX_RETRY_DELAY_SECONDS / seconds))})${unit}`)
  .join('|')})$`;

/** "30s", "2m", "1h", "5d" → seconds; undefined when not of that form. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS];
}

/** Seconds back to the shortest exact spelling, so a schedule reads as it was written. */
export function formatDuration(seconds: number): string {
  for (const unit of ['d', 'h', 'm'] as const) {
    const size = UNIT_SECONDS[unit];
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

export type ScheduleResult = { ok: true; seconds: number[] } | { ok: false; message: string };

export function parseSchedule(entries: readonly string[]): ScheduleResult {
  if (entries.length > MAX_SCHEDULE_LENGTH) {
    return { ok: false, message: `a retry schedule has at most ${MAX_SCHEDULE_LENGTH} entries` };
  }
  const seconds: number[] = [];
  for (const entry of entries) {
    const value = parseDuration(entry);
    if (value === undefined || value < 1) {
      return { ok: false, message: `"${entry}" is not a duration like 30s, 2m, 1h or 1d` };
    }
    if (value > MAX_RETRY_DELAY_SECONDS) return { ok: false, message: `"${entry}" is longer than 7d` };
    seconds.push(value);
  }
  return { ok: true, seconds };
}

/**
 * The wait before the attempt after `failedAttempt` (1-based), or undefined when the
 * schedule is used up. A `Retry-After` from the receiver is honoured within
 * [scheduled, 2 × scheduled], so a receiver can slow Kiln down but never speed it up
 * or stall it.
 */
export function retryDelaySeconds(schedule: readonly number[], failedAttempt: number, retryAfterSeconds?: number): number | undefined {
  const scheduled = schedule[failedAttempt - 1];
  if (scheduled === undefined) return undefined;
  if (retryAfterSeconds === undefined) return scheduled;
  return Math.min(Math.max(retryAfterSeconds, scheduled), 2 * scheduled);
}

/** `Retry-After` as seconds: either delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | undefined, now: Date): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now.getTime()) / 1000));
}
