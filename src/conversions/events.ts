import type { Kysely } from 'kysely';
import { undispatchedDeliveriesOfEvent } from '../db/deliveries.js';
import type { Conversion, Database } from '../db/schema.js';
import type { ConversionEventType } from '../model/event-catalog.js';
import { publishRoutedEvents, type PublishedEvent, type RoutedEvent } from '../events/publish.js';
import { handOver, type DeliveryDispatch } from '../webhooks/dispatch.js';
import { conversionEventData } from './event-data.js';

export interface ConversionEventDependencies {
  db: Kysely<Database>;
  /** Takes charge of the deliveries of the events recorded here. */
  deliveries: DeliveryDispatch;
  /** The schedule of targets that do not set their own. */
  defaultRetrySchedule: number[];
}

/** Names a conversion's event once, whoever records it: the workflow's activities or the API. */
const eventKey = (conversionId: string, type: ConversionEventType): string => `${conversionId}:${type}`;

/** A step of a conversion as the event it publishes, to its subscribers and its own webhook_url. */
export function conversionEvent(row: Conversion, type: ConversionEventType): RoutedEvent {
  return {
    event: { accountId: row.account_id, type, subjectId: row.id, dedupeKey: eventKey(row.id, type), data: conversionEventData(row, type) },
    routing: { kind: 'subscribers', tag: row.tag, webhookUrl: row.webhook_url, webhookEvents: row.webhook_events },
  };
}

/**
 * Stores the same step of several conversions (a job's files), each as an event with its
 * deliveries, together; `db` may be the caller's transaction.
 */
export function storeConversionEvents(
  db: Kysely<Database>,
  rows: Conversion[],
  type: ConversionEventType,
  defaultRetrySchedule: number[],
): Promise<PublishedEvent[]> {
  return publishRoutedEvents(
    db,
    rows.map((row) => conversionEvent(row, type)),
    defaultRetrySchedule,
  );
}

/** Stores a step of a conversion as an event with its deliveries; `db` may be the caller's transaction. */
export async function storeConversionEvent(
  db: Kysely<Database>,
  row: Conversion,
  type: ConversionEventType,
  defaultRetrySchedule: number[],
): Promise<PublishedEvent> {
  const [published] = await publishRoutedEvents(db, [conversionEvent(row, type)], defaultRetrySchedule);
  return published!;
}

/**
 * Records a step of a conversion: `write` changes the row (answering it when this call
 * made the change, undefined when the row already had it), and the step's event is stored
 * in the same transaction, so the row never changes without its event (and one commit
 * instead of two). Then the event's deliveries are dispatched; throws when they could not
 * be, so an activity is retried (the event is stored once, by its key). `also` answers more
 * events to store with it, in the same statements, whether or not `write` changed the row.
 */
export async function recordConversionStep(
  deps: ConversionEventDependencies,
  type: ConversionEventType,
  write: (db: Kysely<Database>) => Promise<Conversion | undefined>,
  also?: (trx: Kysely<Database>) => Promise<RoutedEvent[]>,
): Promise<void> {
  const published = await deps.db.transaction().execute(async (trx) => {
    const row = await write(trx);
    const events = row ? [conversionEvent(row, type)] : [];
    if (also) events.push(...(await also(trx)));
    return publishRoutedEvents(trx, events, deps.defaultRetrySchedule);
  });
  if (published.length > 0) await handOver(deps.deliveries, published);
}

/** Dispatches the deliveries of an event stored earlier with the conversion (`file.uploaded`, stored in the upload's transaction). */
export async function dispatchStoredConversionEvent(deps: ConversionEventDependencies, conversionId: string, type: ConversionEventType): Promise<void> {
  await deps.deliveries.dispatch(await undispatchedDeliveriesOfEvent(deps.db, eventKey(conversionId, type)));
}
