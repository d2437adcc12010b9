import { setImmediate } from 'node:timers/promises';
import type { Kysely, Transaction } from 'kysely';
import { newId } from '../ids.js';
import type { Database, EventRow, FanOutRouting, WebhookEndpoint } from '../db/schema.js';
import { endpointTarget, insertDeliveries, pendingDeliveriesOfEvent, requestTarget, type DeliveryForAttempt, type NewDelivery } from '../db/deliveries.js';
import { findAccountById } from '../db/accounts.js';
import { fanOutDone, insertEventsOnce, oweFanOut, owesFanOut } from '../db/events.js';
import { subscribedEndpoints, subscribesTo } from '../db/webhook-endpoints.js';
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
  /** Its deliveries are still to be planned (`fanOutEvent`): it has more targets than its own transaction plans. */
  fanOutOwed: boolean;
}

/**
 * Targets the transaction that stores an event plans itself. An event meant for more is
 * stored with its fan-out owed and its deliveries planned after it commits, in statements
 * of FANOUT_CHUNK, so that an upload to an account with 500 endpoints stores what one to
 * an account with one endpoint does, and the planning runs between other work.
 */
const INLINE_TARGETS = 20;
const FANOUT_CHUNK = 100;

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
 * Stores an event once, and in the same transaction a delivery for each target (or, past
 * INLINE_TARGETS, the fan-out it owes), so an event is never stored without its deliveries
 * or the debt of them. `dedupeKey` names the logical event: an activity retried after a
 * crash gets the same event (and deliveries) back.
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
export function publishEvents<T extends EventType>(
  db: Kysely<Database>,
  events: Array<EventToPublish<T>>,
  routing: EventRouting,
  defaultRetrySchedule: number[],
): Promise<PublishedEvent[]> {
  return publishRoutedEvents(
    db,
    events.map((event) => ({ event, routing })),
    defaultRetrySchedule,
  );
}

/** An event with who hears about it. */
export interface RoutedEvent {
  event: EventToPublish<EventType>;
  routing: EventRouting;
}

/** Routings that plan the same targets share a key. */
function routingKey(routing: EventRouting): string {
  return routing.kind === 'endpoint' ? `endpoint ${routing.endpoint.id}` : JSON.stringify([routing.tag, routing.webhookUrl, routing.webhookEvents]);
}

/**
 * Publishes events of one account, of any types and routings (a job's file that ended: its
 * conversion's event and its job's progress), together: one insert stores them all, the
 * endpoints are read once per routing, and the targets planned per routing and type.
 */
export async function publishRoutedEvents(db: Kysely<Database>, routed: RoutedEvent[], defaultRetrySchedule: number[]): Promise<PublishedEvent[]> {
  if (routed.length === 0) return [];
  const publish = async (trx: Transaction<Database>): Promise<PublishedEvent[]> => {
    const stored = await insertEventsOnce(
      trx,
      routed.map(({ event }) => ({ ...event, id: newId('evt') })),
    );
    const groups = new Map<string, { accountId: string; routing: EventRouting; byType: Map<EventType, EventRow[]> }>();
    stored.forEach((s, index) => {
      if (!s.created) return;
      const { routing } = routed[index]!;
      const key = `${s.row.account_id} ${routingKey(routing)}`;
      let group = groups.get(key);
      if (!group) groups.set(key, (group = { accountId: s.row.account_id, routing, byType: new Map() }));
      const ofType = group.byType.get(s.row.type);
      if (ofType) ofType.push(s.row);
      else group.byType.set(s.row.type, [s.row]);
    });
    const deferred = new Set<string>();
    const planned: Array<{ event: EventRow; target: PlannedTarget }> = [];
    for (const { accountId, routing, byType } of groups.values()) {
      const subscribers =
        routing.kind === 'subscribers' ? await subscribersByType(trx, accountId, [...byType.keys()], routing.tag, INLINE_TARGETS + 1) : undefined;
      for (const [type, events] of byType) {
        const targets = await plannedTargets(trx, events[0]!, routing, subscribers?.get(type));
        if (routing.kind === 'subscribers' && targets.length > INLINE_TARGETS) {
          const fanout: FanOutRouting = { tag: routing.tag, webhook_url: routing.webhookUrl, webhook_events: routing.webhookEvents };
          await oweFanOut(
            trx,
            events.map((event) => event.id),
            fanout,
          );
          for (const event of events) deferred.add(event.id);
        } else {
          planned.push(...events.flatMap((event) => targets.map((target) => ({ event, target }))));
        }
      }
    }
    const inserted = new Map<string, DeliveryForAttempt[]>();
    for (const one of await storeDeliveries(trx, planned, defaultRetrySchedule, DELIVERY_INSERT_CHUNK)) {
      const ofEvent = inserted.get(one.event.id);
      if (ofEvent) ofEvent.push(one);
      else inserted.set(one.event.id, [one]);
    }
    return Promise.all(
      stored.map(async (s, index) => ({
        id: s.id,
        type: routed[index]!.event.type,
        created: s.created,
        // A retried publisher gets back the deliveries still pending, and a fan-out still owed.
        deliveries: s.created ? (inserted.get(s.id) ?? []) : await pendingDeliveriesOfEvent(trx, s.id),
        fanOutOwed: s.created ? deferred.has(s.id) : await owesFanOut(trx, s.id),
      })),
    );
  };
  return db.isTransaction ? publish(db as Transaction<Database>) : db.transaction().execute(publish);
}

/** Deliveries one insert statement carries at most. */
const DELIVERY_INSERT_CHUNK = 500;

/**
 * Stores a delivery of each event to each of its targets, `chunk` to a statement, and
 * answers those it stored: one already stored (the same event and target) is left alone.
 */
async function storeDeliveries(
  db: Kysely<Database>,
  planned: Array<{ event: EventRow; target: PlannedTarget }>,
  defaultRetrySchedule: number[],
  chunk: number,
): Promise<DeliveryForAttempt[]> {
  const stored: DeliveryForAttempt[] = [];
  for (let start = 0; start < planned.length; start += chunk) {
    // Outside a transaction, other callbacks run between two statements: on the embedded
    // database each runs to its end in this thread, and one statement's answer would
    // otherwise start the next before any request waiting for the thread is read.
    if (start > 0 && !db.isTransaction) await setImmediate();
    const part = planned.slice(start, start + chunk).map((p) => ({ ...p, delivery: newDelivery(p.event, p.target, defaultRetrySchedule) }));
    const byId = new Map(part.map((p) => [p.delivery.id, p]));
    for (const delivery of await insertDeliveries(
      db,
      part.map((p) => p.delivery),
    )) {
      const { event, target } = byId.get(delivery.id)!;
      stored.push({ delivery, event, target: target.attempt });
    }
  }
  return stored;
}

/**
 * Plans the deliveries of an event stored with its fan-out owed: its targets as they are
 * now, stored FANOUT_CHUNK to a statement, each statement on its own so other work runs
 * between them, then the debt cleared. Answers the deliveries this call stored. Safe to run
 * again after a crash, or twice at once: a delivery is stored once per event and target,
 * and only the call that stored it answers it.
 */
export async function fanOutEvent(db: Kysely<Database>, eventId: string, defaultRetrySchedule: number[]): Promise<DeliveryForAttempt[]> {
  const event = await db.selectFrom('events').selectAll().where('id', '=', eventId).executeTakeFirst();
  if (!event?.fanout) return [];
  const { tag, webhook_url: webhookUrl, webhook_events: webhookEvents } = event.fanout;
  const targets = await plannedTargets(db, event, { kind: 'subscribers', tag, webhookUrl, webhookEvents });
  const stored = await storeDeliveries(
    db,
    targets.map((target) => ({ event, target })),
    defaultRetrySchedule,
    FANOUT_CHUNK,
  );
  await fanOutDone(db, eventId);
  return stored;
}

/**
 * The account's endpoints that take each of `types` carrying `tag`, at most `limit` each.
 * Several types (a job's file that ended: its conversion's event and its job's progress)
 * are read in one statement and told apart here, unless that list reaches the limit: cut
 * there, it may miss a type's endpoints, so each type is then asked on its own.
 */
async function subscribersByType(
  db: Kysely<Database>,
  accountId: string,
  types: EventType[],
  tag: string | null,
  limit: number,
): Promise<Map<EventType, WebhookEndpoint[]>> {
  if (types.length > 1) {
    const ofAnyType = await subscribedEndpoints(db, accountId, null, tag, limit);
    if (ofAnyType.length < limit) return new Map(types.map((type) => [type, ofAnyType.filter((endpoint) => subscribesTo(endpoint, type))]));
  }
  const byType = new Map<EventType, WebhookEndpoint[]>();
  for (const type of types) byType.set(type, await subscribedEndpoints(db, accountId, type, tag, limit));
  return byType;
}

interface PlannedTarget {
  /** An endpoint id, or `request` for a conversion's own webhook_url. */
  target: string;
  endpointId: string | null;
  url: string;
  retrySchedule: number[] | null;
  /** Where an attempt goes and what it signs with, as read in the publishing transaction. */
  attempt: DeliveryForAttempt['target'];
}

/**
 * Who hears about events of `example`'s account and type under `routing`, each target as
 * read in the same transaction: `subscribers` when the caller read them, else all of them.
 */
async function plannedTargets(db: Kysely<Database>, example: EventRow, routing: EventRouting, subscribers?: WebhookEndpoint[]): Promise<PlannedTarget[]> {
  const toEndpoint = (e: WebhookEndpoint): PlannedTarget => ({
    target: e.id,
    endpointId: e.id,
    url: e.url,
    retrySchedule: e.retry_schedule,
    attempt: endpointTarget(e),
  });
  if (routing.kind === 'endpoint') return [toEndpoint(routing.endpoint)];
  const endpoints = subscribers ?? (await subscribedEndpoints(db, example.account_id, example.type, routing.tag));
  const planned = endpoints.map(toEndpoint);
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
