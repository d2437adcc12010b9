import type { DeliveryForAttempt } from '../db/deliveries.js';

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
}

/**
 * For request handlers, which have no Temporal retry behind them: hands the deliveries
 * over, and should that fail (a burst handed to workflows while Temporal is down), leaves
 * them stored for the reconcile schedule (temporal/reconcile.ts), which takes them within
 * a minute or two.
 */
export async function dispatchOrDefer(
  dispatch: DeliveryDispatch,
  deliveries: DeliveryForAttempt[],
  log: (message: string, error: unknown) => void,
): Promise<void> {
  try {
    await dispatch.dispatch(deliveries);
  } catch (error) {
    log(`could not hand over ${deliveries.length} delivery(ies) yet; the reconcile schedule will`, error);
  }
}
