import type { DeliveryForAttempt } from '../db/deliveries.js';
import type { PublishedEvent } from '../events/publish.js';

export interface DeliverySettings {
  /** The schedule of targets that do not set their own. */
  defaultRetrySchedule: number[];
  requestTimeoutSeconds: number;
}

/** Takes charge of stored deliveries that nobody has taken charge of yet. */
export interface DeliveryDispatch {
  /**
   * Throws only when it could not take charge (Temporal did not answer), so an activity
   * calling it is retried by Temporal until it has.
   */
  dispatch(deliveries: DeliveryForAttempt[]): Promise<void>;
  /**
   * Plans the deliveries of events stored with their fan-out owed (events/publish.ts),
   * after the transaction that stored them, and takes charge of them. Answers at once:
   * whatever it does not plan (this process stops, the database fails) the reconcile
   * schedule plans after its grace.
   */
  fanOut(eventIds: string[]): void;
}

/** Takes charge of what publishing `events` stored: their deliveries, and the fan-outs they owe. */
export async function handOver(dispatch: DeliveryDispatch, events: readonly PublishedEvent[]): Promise<void> {
  const owed = events.filter((event) => event.fanOutOwed).map((event) => event.id);
  if (owed.length > 0) dispatch.fanOut(owed);
  await dispatch.dispatch(events.flatMap((event) => event.deliveries));
}

/**
 * For request handlers, which have no Temporal retry behind them: hands the deliveries
 * over, and should that fail (a burst handed to workflows while Temporal is down), leaves
 * them stored for the reconcile schedule (temporal/reconcile.ts), which takes them within
 * a minute or two.
 */
export async function dispatchOrDefer(
  dispatch: DeliveryDispatch,
  events: readonly PublishedEvent[],
  log: (message: string, error: unknown) => void,
): Promise<void> {
  try {
    await handOver(dispatch, events);
  } catch (error) {
    log(`could not hand over the deliveries of ${events.length} event(s) yet; the reconcile schedule will`, error);
  }
}
