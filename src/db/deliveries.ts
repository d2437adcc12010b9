import type { EventType } from '../events/catalog.js';
import { sql, type Kysely } from 'kysely';
import type { AttemptTrigger, Database, Delivery, DeliveryAttempt, DeliveryStatus, EventRow } from './schema.js';

export interface NewDelivery {
  id: string;
  accountId: string;
  eventId: string;
  eventType: EventType;
  endpointId: string | null;
  target: string;
  url: string;
  workflowId: string;
  retrySchedule: number[];
}

/** Inserts the deliveries of an event; a target that already has one keeps it. */
export async function insertDeliveries(db: Kysely<Database>, deliveries: NewDelivery[]): Promise<void> {
  if (deliveries.length === 0) return;
  await db
    .insertInto('deliveries')
    .values(
      deliveries.map((d) => ({
        id: d.id,
        account_id: d.accountId,
        event_id: d.eventId,
        event_type: d.eventType,
        endpoint_id: d.endpointId,
        target: d.target,
        url: d.url,
        workflow_id: d.workflowId,
        retry_schedule: JSON.stringify(d.retrySchedule),
        status: 'pending' as const,
      })),
    )
    .onConflict((oc) => oc.columns(['event_id', 'target']).doNothing())
    .execute();
}

export async function pendingDeliveriesOfEvent(db: Kysely<Database>, eventId: string): Promise<Delivery[]> {
  return db.selectFrom('deliveries').selectAll().where('event_id', '=', eventId).where('status', '=', 'pending').orderBy('id').execute();
}

/** The deliveries of the event stored under `dedupeKey` whose workflows were never started. */
export async function undispatchedDeliveriesOfEvent(db: Kysely<Database>, dedupeKey: string): Promise<Delivery[]> {
  return db
    .selectFrom('deliveries')
    .innerJoin('events', 'events.id', 'deliveries.event_id')
    .selectAll('deliveries')
    .where('events.dedupe_key', '=', dedupeKey)
    .where('deliveries.status', '=', 'pending')
    .where('deliveries.dispatched_at', 'is', null)
    .orderBy('deliveries.id')
    .execute();
}

export async function findDelivery(db: Kysely<Database>, accountId: string, id: string): Promise<Delivery | undefined> {
  return db.selectFrom('deliveries').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
}

export async function findDeliveryById(db: Kysely<Database>, id: string): Promise<Delivery | undefined> {
  return db.selectFrom('deliveries').selectAll().where('id', '=', id).executeTakeFirst();
}

export interface DeliveryFilter {
  endpointId?: string;
  eventType?: EventType;
  status?: DeliveryStatus;
  eventId?: string;
}

export async function listDeliveries(
  db: Kysely<Database>,
  accountId: string,
  filter: DeliveryFilter,
  page: { limit: number; after?: string },
): Promise<Delivery[]> {
  let query = db.selectFrom('deliveries').selectAll().where('account_id', '=', accountId);
  if (filter.endpointId) query = query.where('endpoint_id', '=', filter.endpointId);
  if (filter.eventType) query = query.where('event_type', '=', filter.eventType);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.eventId) query = query.where('event_id', '=', filter.eventId);
  if (page.after) query = query.where('id', '<', page.after);
  return query.orderBy('id', 'desc').limit(page.limit).execute();
}

export async function listAttempts(db: Kysely<Database>, deliveryId: string): Promise<DeliveryAttempt[]> {
  return db.selectFrom('delivery_attempts').selectAll().where('delivery_id', '=', deliveryId).orderBy('attempt').execute();
}

export interface AttemptRecord {
  trigger: AttemptTrigger;
  url: string;
  scheduledAt: Date;
  startedAt: Date;
  durationMs: number;
  statusCode: number | null;
  responseBodyPreview: string | null;
  error: { class: string; message: string } | null;
  /** When the next scheduled attempt will run, if one will; `unchanged` for a manual attempt, which leaves the schedule alone. */
  nextAttemptAt: Date | null | 'unchanged';
  /** A successful attempt ends the delivery in the same write, sparing the workflow a second activity. */
  succeeded?: boolean;
}

/**
 * Logs one attempt and updates its delivery's summary in a single statement (a
 * data-modifying CTE, so both happen or neither); returns the attempt number.
 */
export async function recordAttempt(db: Kysely<Database>, deliveryId: string, attempt: AttemptRecord): Promise<number> {
  const lastError = attempt.error ? `${attempt.error.class}: ${attempt.error.message}` : null;
  const succeeded = attempt.succeeded === true;
  const keepNext = attempt.nextAttemptAt === 'unchanged';
  const nextAttemptAt = attempt.nextAttemptAt instanceof Date ? attempt.nextAttemptAt : null;
  const result = await sql<{ attempt: number }>`
    with counted as (
      update deliveries set
        attempt_count = attempt_count + 1,
        url = ${attempt.url},
        last_status_code = ${attempt.statusCode}::integer,
        last_error = ${lastError}::text,
        next_attempt_at = case when ${keepNext}::boolean then next_attempt_at else ${nextAttemptAt}::timestamptz end,
        updated_at = now(),
        status = case when ${succeeded}::boolean then 'succeeded' else status end,
        completed_at = case when ${succeeded}::boolean then now() else completed_at end
      where id = ${deliveryId}
      returning id, attempt_count
    )
    insert into delivery_attempts
      (delivery_id, attempt, trigger, url, scheduled_at, started_at, duration_ms, status_code, response_body_preview, error_class, error_message)
    select id, attempt_count, ${attempt.trigger}::text, ${attempt.url}::text, ${attempt.scheduledAt}::timestamptz, ${attempt.startedAt}::timestamptz,
      ${attempt.durationMs}::integer, ${attempt.statusCode}::integer, ${attempt.responseBodyPreview}::text,
      ${attempt.error?.class ?? null}::text, ${attempt.error?.message ?? null}::text
    from counted
    returning attempt`.execute(db);
  const row = result.rows[0];
  if (!row) throw new Error(`no delivery ${deliveryId}`);
  return row.attempt;
}

/** A delivery with the event it carries, read together for an attempt. */
export async function findDeliveryWithEvent(db: Kysely<Database>, id: string): Promise<{ delivery: Delivery; event: EventRow } | undefined> {
  const row = await db
    .selectFrom('deliveries')
    .innerJoin('events', 'events.id', 'deliveries.event_id')
    .selectAll('deliveries')
    .select(['events.subject_id', 'events.dedupe_key', 'events.data', 'events.created_at as event_created_at'])
    .where('deliveries.id', '=', id)
    .executeTakeFirst();
  if (!row) return undefined;
  const { subject_id, dedupe_key, data, event_created_at, ...delivery } = row;
  return {
    delivery,
    event: { id: delivery.event_id, account_id: delivery.account_id, type: delivery.event_type, subject_id, dedupe_key, data, created_at: event_created_at },
  };
}

/** The delivery's final state for this run of its workflow. */
export async function finishDelivery(db: Kysely<Database>, id: string, status: Exclude<DeliveryStatus, 'pending'>): Promise<void> {
  await db
    .updateTable('deliveries')
    .set({ status, next_attempt_at: null, updated_at: sql`now()`, completed_at: sql`now()` })
    .where('id', '=', id)
    .execute();
}

/** A re-delivery re-opens the delivery until its manual attempt ends. */
export async function reopenDelivery(db: Kysely<Database>, id: string): Promise<void> {
  await db
    .updateTable('deliveries')
    .set({ status: 'pending', completed_at: null, updated_at: sql`now()` })
    .where('id', '=', id)
    .execute();
}

export async function markDispatched(db: Kysely<Database>, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('deliveries')
    .set({ dispatched_at: sql`now()` })
    .where('id', 'in', ids)
    .where('dispatched_at', 'is', null)
    .execute();
}

/** Deliveries stored but whose workflow was never started (the process died in between). */
export async function listUndispatched(db: Kysely<Database>, olderThanSeconds: number, limit: number): Promise<Delivery[]> {
  return db
    .selectFrom('deliveries')
    .selectAll()
    .where('dispatched_at', 'is', null)
    .where('status', '=', 'pending')
    .where('created_at', '<', sql<Date>`now() - make_interval(secs => ${olderThanSeconds})`)
    .orderBy('created_at')
    .limit(limit)
    .execute();
}

export async function failedDeliveriesSince(db: Kysely<Database>, accountId: string, endpointId: string, since: Date): Promise<Delivery[]> {
  return db
    .selectFrom('deliveries')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('endpoint_id', '=', endpointId)
    .where('status', '=', 'failed')
    .where('created_at', '>=', since)
    .orderBy('id')
    .execute();
}
