import type { Kysely } from 'kysely';
import { noteThrottled, type DeliveryForAttempt, type Throttle } from '../db/deliveries.js';
import { reserveTurn } from '../db/rate-limits.js';
import type { Database } from '../db/schema.js';
import { webhookThrottled } from '../process-metrics.js';

/** A turn this close to now is taken at once: waiting would cost more than it keeps. */
const NEGLIGIBLE_WAIT_MS = 20;
/** At most a second's worth of deliveries may go together. */
const BURST_MS = 1000;

/**
 * A receiver's throttle: an endpoint's `rate_limit`, or the account's `webhook_rate_limit`
 * for each of its webhook_urls, as deliveries per second. Every scheduled attempt to a
 * throttled target takes a turn: the first when it is due, each retry when its wait is
 * decided (so the retry's timer already ends on its turn). Turns are kept in Postgres,
 * shared by every process, handed out in the order they are asked for. A delivery given a
 * later turn waits for it durably (a timer of its workflow), is not failed or counted as an
 * attempt, and its row says it was throttled (`throttled_count`, `throttled_until`).
 */
export async function takeTurn(db: Kysely<Database>, one: DeliveryForAttempt, notBefore: Date): Promise<Date> {
  const throttle = throttleOf(one);
  if (!throttle) return notBefore;
  const { turn, now } = await reserveTurn(db, throttle.key, 1000 / throttle.perSecond, BURST_MS, notBefore);
  const late = turn.getTime() - Math.max(now.getTime(), notBefore.getTime());
  if (late <= NEGLIGIBLE_WAIT_MS) return notBefore;
  webhookThrottled.inc();
  await noteThrottled(db, one.delivery.id, turn);
  // The turn in this process's clock: a wait computed from it is the database's wait.
  return new Date(Date.now() + (turn.getTime() - now.getTime()));
}

function throttleOf({ target }: DeliveryForAttempt): Throttle | null {
  return 'refusal' in target ? null : target.throttle;
}

/** Milliseconds from now until `turn` (0 when it has come). */
export function waitFor(turn: Date): number {
  return Math.max(0, turn.getTime() - Date.now());
}
