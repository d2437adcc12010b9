import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { Database, Delivery } from '../db/schema.js';
import { startDeliveryWorkflows } from './delivery-workflow.js';

export interface DeliverySettings {
  /** The schedule of targets that do not set their own. */
  defaultRetrySchedule: number[];
  requestTimeoutSeconds: number;
}

/**
 * Starts the workflows of stored deliveries that have none yet. Throws when Temporal does
 * not answer: an activity that calls this is retried by Temporal until they start.
 */
export async function dispatchDeliveries(client: Client, db: Kysely<Database>, deliveries: Delivery[], settings: DeliverySettings): Promise<void> {
  await startDeliveryWorkflows(
    client,
    db,
    deliveries.filter((d) => d.dispatched_at === null),
    settings.requestTimeoutSeconds,
  );
}

/**
 * For request handlers, which have no Temporal retry behind them: starts the deliveries
 * now if Temporal answers, and otherwise leaves them stored for the reconcile schedule
 * (temporal/reconcile.ts), which starts them within a minute or two.
 */
export async function dispatchOrDefer(
  client: Client,
  db: Kysely<Database>,
  deliveries: Delivery[],
  settings: DeliverySettings,
  log: (message: string, error: unknown) => void,
): Promise<void> {
  try {
    await dispatchDeliveries(client, db, deliveries, settings);
  } catch (error) {
    log(`could not start ${deliveries.length} delivery workflow(s) yet; the reconcile schedule will`, error);
  }
}
