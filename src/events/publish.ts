import type { Kysely, Transaction } from 'kysely';
import { newId } from '../ids.js';
import type { Database, EventRow, WebhookEndpoint } from '../db/schema.js';
import { endpointTarget, insertDeliveries, pendingDeliveriesOfEvent, requestTarget, type DeliveryForAttempt, type NewDelivery } from '../db/deliveries.js';
import { findAccountById } from '../db/accounts.js';
import { insertEventOnce } from '../db/events.js';
import { subscribedEndpoints } from '../db/webhook-endpoints.js';
import { deliveryWorkflowId } from '../temporal/names.js';
import type { EventType, StoredEventData } from './catalog.js';

/** Who hears about an event: the account's subscribed endpoints (and a per-request URL), or one endpoint (tests). */
export type EventRouting = { kind: 'subscribers'; tag: string | null; webhookUrl: string | null } | { kind: 'endpoint'; endpoint: WebhookEndpoint };

export interface PublishedEvent {
  id: string;
  type: EventType;
  created: boolean;
  /** Deliveries of the event still pending, each with what its first attempt needs; they may need dispatching. */
  deliveries: DeliveryForAttempt[];
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
    const stored = await insertEventOnce(trx, { ...event, id: newId('evt') });
    // A retried publisher gets back the deliveries still pending.
    if (!stored.created) return { id: stored.id, type: event.type, created: false, deliveries: await pendingDeliveriesOfEvent(trx, stored.id) };
    const planned = await plannedDeliveries(trx, stored.row, routing, defaultRetrySchedule);
    const inserted = await insertDeliveries(
      trx,
      planned.map((p) => p.delivery),
    );
    const targets = new Map(planned.map((p) => [p.delivery.id, p.target]));
    const deliveries = inserted.map((delivery) => ({ delivery, event: stored.row, target: targets.get(delivery.id)! }));
    return { id: stored.id, type: event.type, created: true, deliveries };
  };
  return db.isTransaction ? publish(db as Transaction<Database>) : db.transaction().execute(publish);
}

/** The event's deliveries, each with its target as read in the same transaction. */
async function plannedDeliveries(
  db: Kysely<Database>,
  event: EventRow,
  routing: EventRouting,
  defaultRetrySchedule: number[],
): Promise<Array<{ delivery: NewDelivery; target: DeliveryForAttempt['target'] }>> {
  const delivery = (target: string, endpointId: string | null, url: string, retrySchedule: number[] | null): NewDelivery => ({
    id: newId('dlv'),
    accountId: event.account_id,
    eventId: event.id,
    eventType: event.type,
    endpointId,
    target,
    url,
    workflowId: deliveryWorkflowId(event.id, target),
    retrySchedule: retrySchedule ?? defaultRetrySchedule,
  });
  const toEndpoint = (e: WebhookEndpoint) => ({ delivery: delivery(e.id, e.id, e.url, e.retry_schedule), target: endpointTarget(e) });
  if (routing.kind === 'endpoint') return [toEndpoint(routing.endpoint)];
  const planned = (await subscribedEndpoints(db, event.account_id, event.type, routing.tag)).map(toEndpoint);
  if (routing.webhookUrl) {
    const account = await findAccountById(db, event.account_id);
    planned.push({ delivery: delivery(REQUEST_TARGET, null, routing.webhookUrl, null), target: requestTarget(routing.webhookUrl, account) });
  }
  return planned;
}
