import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { DeliveryForAttempt } from '../db/deliveries.js';
import type { Database, Delivery } from '../db/schema.js';
import { startDeliveryWorkflows } from './delivery-workflow.js';

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

/** Every delivery a workflow of its own from the start: what processes without first attempts of their own use. */
export class WorkflowDispatch implements DeliveryDispatch {
  constructor(
    private readonly client: Client,
    private readonly db: Kysely<Database>,
    private readonly settings: DeliverySettings,
  ) {}

  dispatch(deliveries: Array<DeliveryForAttempt | Delivery>): Promise<void> {
    const rows = deliveries.map((d) => ('delivery' in d ? d.delivery : d));
    return startDeliveryWorkflows(
      this.client,
      this.db,
      rows.filter((d) => d.dispatched_at === null),
      this.settings.requestTimeoutSeconds,
    );
  }
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
