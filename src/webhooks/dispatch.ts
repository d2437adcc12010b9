import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { PublishedEvent } from '../events/publish.js';
import { startDeliveryWorkflows } from '../temporal/deliveries.js';

export interface DeliverySettings {
  /** The schedule of targets that do not set their own. */
  defaultRetrySchedule: number[];
  requestTimeoutSeconds: number;
}

/**
 * Starts the workflows of an event's deliveries that have none yet. Never throws: the
 * deliveries are already stored, so when Temporal does not answer the failure is logged
 * and the reconciler starts them later. Nothing that publishes an event waits on its
 * deliveries.
 */
export async function dispatchDeliveries(
  client: Client,
  db: Kysely<Database>,
  published: PublishedEvent,
  settings: DeliverySettings,
  log: (message: string, error: unknown) => void,
): Promise<void> {
  const undispatched = published.deliveries.filter((d) => d.dispatched_at === null);
  try {
    await startDeliveryWorkflows(client, db, undispatched, settings.requestTimeoutSeconds);
  } catch (error) {
    log(`could not start the deliveries of ${published.id} yet; the reconciler will`, error);
  }
}
