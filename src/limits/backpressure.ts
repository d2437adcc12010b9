import type { Kysely } from 'kysely';
import type { KilnConfig } from '../config.js';
import { convertBacklog } from '../db/usage.js';
import type { Database } from '../db/schema.js';
import { limitRefusals } from '../process-metrics.js';
import { ApiError } from '../problem.js';

/** How far back the drain rate looks. */
const DRAIN_WINDOW_SECONDS = 300;
/** How long one reading of the backlog serves this process's requests. */
const READING_TTL_MS = 2000;

export interface BacklogReading {
  /** Conversions queued or converting, across the deployment. */
  queued: number;
  /** Conversions finished per second over the last DRAIN_WINDOW_SECONDS. */
  drainPerSecond: number;
  /** Seconds the queued conversions would take to finish at that rate (Infinity when none finished). */
  drainSeconds: number;
}

/**
 * Backpressure for the whole deployment: new work is refused with 503 `overloaded` while
 * the queued conversions would take longer than KILN_OVERLOAD_DRAIN_SECONDS to drain at
 * the rate the converters finished them over the last five minutes, and at least
 * KILN_OVERLOAD_MIN_QUEUED are queued. Both figures come from the database, so every API
 * process sees the same backlog; each reads it at most every two seconds.
 */
export class Backpressure {
  private reading: Promise<BacklogReading> | undefined;
  private readAt = 0;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly config: Pick<KilnConfig, 'overloadDrainSeconds' | 'overloadMinQueued'>,
  ) {}

  async read(): Promise<BacklogReading> {
    if (!this.reading || Date.now() - this.readAt > READING_TTL_MS) {
      this.readAt = Date.now();
      this.reading = convertBacklog(this.db, DRAIN_WINDOW_SECONDS).then(({ queued, finishedRecently }) => {
        const drainPerSecond = finishedRecently / DRAIN_WINDOW_SECONDS;
        return { queued, drainPerSecond, drainSeconds: queued === 0 ? 0 : drainPerSecond > 0 ? queued / drainPerSecond : Infinity };
      });
      this.reading.catch(() => (this.reading = undefined));
    }
    return this.reading;
  }

  /** Throws 503 `overloaded` with Retry-After while the backlog is past its bound. */
  async admit(): Promise<void> {
    const bound = this.config.overloadDrainSeconds;
    if (bound === null) return;
    const reading = await this.read();
    if (reading.queued < this.config.overloadMinQueued || reading.drainSeconds <= bound) return;
    limitRefusals.inc({ reason: 'overloaded', limit: 'convert_backlog' });
    // Until enough has drained to bring the backlog under its bound, within reason.
    const wait = Number.isFinite(reading.drainSeconds) ? reading.drainSeconds - bound : 60;
    const retryAfter = Math.min(300, Math.max(5, Math.ceil(wait)));
    const drain = Number.isFinite(reading.drainSeconds) ? `${Math.round(reading.drainSeconds)} s` : 'an unknown time (none finished lately)';
    throw new ApiError(
      503,
      'overloaded',
      `Kiln is overloaded: ${reading.queued} conversions are queued and would take ${drain} to drain, past its bound of ${bound} s; nothing was accepted, try again later`,
      { queued: reading.queued },
      { 'Retry-After': String(retryAfter) },
    );
  }
}
