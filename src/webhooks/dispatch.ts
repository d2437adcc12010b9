import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { publishEvent, type EventRouting, type PublishedEvent } from '../events/publish.js';
import type { EventType } from '../events/catalog.js';
import { startDeliveryWorkflows } from '../temporal/deliveries.js';

export interface DeliverySettings {
  /** The schedule of targets that do not set their own. */
  defaultRetrySchedule: number[];
  requestTimeoutSeconds: number;
}

export interface EventToPublish {
  accountId: string;
  type: EventType;
  subjectId: string;
  dedupeKey: string;
  data: Record<string, unknown>;
}

/** Starts the workflows of an event's deliveries that have none yet. */
export async function dispatchDeliveries(client: Client, db: Kysely<Database>, published: PublishedEvent, settings: DeliverySettings): Promise<void> {
  const undispatched = published.deliveries.filter((d) => d.dispatched_at === null);
  await startDeliveryWorkflows(client, db, undispatched, settings.requestTimeoutSeconds);
}

/** Stores the event with its deliveries, then starts their workflows. Safe to repeat. */
export async function publishAndDispatch(
  client: Client,
  db: Kysely<Database>,
  settings: DeliverySettings,
  event: EventToPublish,
  routing: EventRouting,
): Promise<PublishedEvent> {
  const published = await publishEvent(db, event, routing, settings.defaultRetrySchedule);
  await dispatchDeliveries(client, db, published, settings);
  return published;
}
