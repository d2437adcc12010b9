import type { Kysely, Transaction } from 'kysely';
import { newId } from '../ids.js';
import type { Database, Delivery, WebhookEndpoint } from '../db/schema.js';
import { insertDeliveries, pendingDeliveriesOfEvent, type NewDelivery } from '../db/deliveries.js';
import { insertEventOnce } from '../db/events.js';
import { subscribedEndpoints } from '../db/webhook-endpoints.js';
import { deliveryWorkflowId } from '../temporal/names.js';
import type { EventType, StoredEventData } from './catalog.js';

/** Who hears about an event: the account's subscribed endpoints (and a per-request URL), or one endpoint (tests). */
export type EventRouting =
  | { kind: 'subscribers'; tag: string | null; webhookUrl: string | null }
  | { kind: 'endpoint'; endpoint: Pick<WebhookEndpoint, 'id' | 'url' | 'retry_schedule'> };

export interface PublishedEvent {
  id: string;
  type: EventType;
  created: boolean;
  /** Deliveries of the event still pending; their workflows may need starting. */
  deliveries: Delivery[];
}

/** The target of a per-request `webhook_url` in delivery ids and workflow ids. */
const REQUEST_TARGET = 'request';

/**
 * Stores an event once, and in the same transaction a delivery for each target, so an
 * event is never stored without its deliveries. `dedupeKey` names the logical event: an
 * activity retried after a crash gets the same event (and deliveries) back.
 */
export async function publishEvent<T extends EventType>(
  db: Kysely<Database>,
  event: { accountId: string; type: T; subjectId: string; dedupeKey: string; data: StoredEventData<T> },
  routing: EventRouting,
  defaultRetrySchedule: number[],
): Promise<PublishedEvent> {
  const publish = async (trx: Transaction<Database>): Promise<PublishedEvent> => {
    const { id, created } = await insertEventOnce(trx, { ...event, id: newId('evt') });
    if (created) await insertDeliveries(trx, await plannedDeliveries(trx, id, event, routing, defaultRetrySchedule));
    return { id, type: event.type, created, deliveries: await pendingDeliveriesOfEvent(trx, id) };
  };
  return db.isTransaction ? publish(db as Transaction<Database>) : db.transaction().execute(publish);
}

async function plannedDeliveries(
  db: Kysely<Database>,
  eventId: string,
  event: { accountId: string; type: EventType },
  routing: EventRouting,
  defaultRetrySchedule: number[],
): Promise<NewDelivery[]> {
  const delivery = (target: string, endpointId: string | null, url: string, retrySchedule: number[] | null): NewDelivery => ({
    id: newId('dlv'),
    accountId: event.accountId,
    eventId,
    eventType: event.type,
    endpointId,
    target,
    url,
    workflowId: deliveryWorkflowId(eventId, target),
    retrySchedule: retrySchedule ?? defaultRetrySchedule,
  });
  if (routing.kind === 'endpoint') {
    const { endpoint } = routing;
    return [delivery(endpoint.id, endpoint.id, endpoint.url, endpoint.retry_schedule)];
  }
  const endpoints = await subscribedEndpoints(db, event.accountId, event.type, routing.tag);
  const planned = endpoints.map((e) => delivery(e.id, e.id, e.url, e.retry_schedule));
  if (routing.webhookUrl) planned.push(delivery(REQUEST_TARGET, null, routing.webhookUrl, null));
  return planned;
}
