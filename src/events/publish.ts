import type { Kysely, Transaction } from 'kysely';
import { newId } from '../ids.js';
import type { Database, EventRow, WebhookEndpoint } from '../db/schema.js';
import { endpointTarget, insertDeliveries, pendingDeliveriesOfEvent, requestTarget, type DeliveryForAttempt, type NewDelivery } from '../db/deliveries.js';
import { findAccountById } from '../db/accounts.js';
import { insertEventsOnce } from '../db/events.js';
import { subscribedEndpoints } from '../db/webhook-endpoints.js';
import { deliveryWorkflowId } from '../names.js';
import type { EventType, StoredEventData } from '../model/event-catalog.js';

/** Who hears about an event: the account's subscribed endpoints (and a per-request URL), or one endpoint (tests). */
export type EventRouting =
  { kind: 'subscribers'; tag: string | null; webhookUrl: string | null; webhookEvents: EventType[] | null } | { kind: 'endpoint'; endpoint: WebhookEndpoint };

export interface PublishedEvent {
  id: string;
  type: EventType;
  created: boolean;
  /** Deliveries of the event still pending, each with what its first attempt needs; they may need dispatching. */
  deliveries: DeliveryForAttempt[];
}

/** The target of a per-request `webhook_url` in delivery ids and workflow ids. */
const REQUEST_TARGET = 'request';

/** An event to publish, named by `dedupeKey`: publishing it again finds the stored one. */
export interface EventToPublish<T extends EventType> {
  accountId: string;
  type: T;
  subjectId: string;
  dedupeKey: string;
  data: StoredEventData<T>;
}

/**
 * Stores an event once, and in the same transaction a delivery for each target, so an
 * event is never stored without its deliveries. `dedupeKey` names the logical event: an
 * activity retried after a crash gets the same event (and deliveries) back.
 */
export async function publishEvent<T extends EventType>(
  db: Kysely<Database>,
  event: EventToPublish<T>,
  routing: EventRouting,
  defaultRetrySchedule: number[],
): Promise<PublishedEvent> {
  const [published] = await publishEvents(db, [event], routing, defaultRetrySchedule);
  return published!;
}

/**
 * Publishes events of one account, one type and one routing (the files of a job, say)
 * together: a handful of statements however many events, in one transaction.
 */
export async function publishEvents<T extends EventType>(
  db: Kysely<Database>,
  events: Array<EventToPublish<T>>,
  routing: EventRouting,
  defaultRetrySchedule: number[],
): Promise<PublishedEvent[]> {
  if (events.length === 0) return [];
  const publish = async (trx: Transaction<Database>): Promise<PublishedEvent[]> => {
    const stored = await insertEventsOnce(
      trx,
      events.map((event) => ({ ...event, id: newId('evt') })),
    );
    const created = stored.flatMap((s) => (s.created ? [s.row] : []));
    const targets = created.length > 0 ? await plannedTargets(trx, created[0]!, routing) : [];
    const planned = created.flatMap((event) => targets.map((target) => ({ event, target, delivery: newDelivery(event, target, defaultRetrySchedule) })));
    const inserted = new Map<string, DeliveryForAttempt[]>();
    for (let start = 0; start < planned.length; start += DELIVERY_INSERT_CHUNK) {
      const chunk = planned.slice(start, start + DELIVERY_INSERT_CHUNK);
      const byId = new Map(chunk.map((p) => [p.delivery.id, p]));
      for (const delivery of await insertDeliveries(
        trx,
        chunk.map((p) => p.delivery),
      )) {
        const { event, target } = byId.get(delivery.id)!;
        const ofEvent = inserted.get(event.id) ?? [];
        ofEvent.push({ delivery, event, target: target.attempt });
        inserted.set(event.id, ofEvent);
      }
    }
    return Promise.all(
      stored.map(async (s, index) => ({
        id: s.id,
        type: events[index]!.type,
        created: s.created,
        // A retried publisher gets back the deliveries still pending.
        deliveries: s.created ? (inserted.get(s.id) ?? []) : await pendingDeliveriesOfEvent(trx, s.id),
      })),
    );
  };
  return db.isTransaction ? publish(db as Transaction<Database>) : db.transaction().execute(publish);
}

/** Deliveries one insert statement carries at most. */
const DELIVERY_INSERT_CHUNK = 500;

interface PlannedTarget {
  /** An endpoint id, or `request` for a conversion's own webhook_url. */
  target: string;
  endpointId: string | null;
  url: string;
  retrySchedule: number[] | null;
  /** Where an attempt goes and what it signs with, as read in the publishing transaction. */
  attempt: DeliveryForAttempt['target'];
}

/** Who hears about events of `example`'s account and type under `routing`, each target as read in the same transaction. */
async function plannedTargets(db: Kysely<Database>, example: EventRow, routing: EventRouting): Promise<PlannedTarget[]> {
  const toEndpoint = (e: WebhookEndpoint): PlannedTarget => ({
    target: e.id,
    endpointId: e.id,
    url: e.url,
    retrySchedule: e.retry_schedule,
    attempt: endpointTarget(e),
  });
  if (routing.kind === 'endpoint') return [toEndpoint(routing.endpoint)];
  const planned = (await subscribedEndpoints(db, example.account_id, example.type, routing.tag)).map(toEndpoint);
  if (routing.webhookUrl && (routing.webhookEvents === null || routing.webhookEvents.includes(example.type))) {
    const account = await findAccountById(db, example.account_id);
    planned.push({
      target: REQUEST_TARGET,
      endpointId: null,
      url: routing.webhookUrl,
      retrySchedule: null,
      attempt: requestTarget(routing.webhookUrl, account),
    });
  }
  return planned;
}

function newDelivery(event: EventRow, target: PlannedTarget, defaultRetrySchedule: number[]): NewDelivery {
  return {
    id: newId('dlv'),
    accountId: event.account_id,
    eventId: event.id,
    eventType: event.type,
    endpointId: target.endpointId,
    target: target.target,
    url: target.url,
    workflowId: deliveryWorkflowId(event.id, target.target),
    retrySchedule: target.retrySchedule ?? defaultRetrySchedule,
  };
}
