import type { Kysely } from 'kysely';
import type { EventType } from '../events/catalog.js';
import type { Database, EventRow } from './schema.js';

/** The account's events, newest first (`after`: the id the previous page ended at). */
export function listEvents(
  db: Kysely<Database>,
  accountId: string,
  filter: { type?: EventType; subjectId?: string },
  page: { limit: number; after?: string },
): Promise<EventRow[]> {
  let query = db.selectFrom('events').selectAll().where('account_id', '=', accountId);
  if (filter.type) query = query.where('type', '=', filter.type);
  if (filter.subjectId) query = query.where('subject_id', '=', filter.subjectId);
  if (page.after) query = query.where('id', '<', page.after);
  return query.orderBy('id', 'desc').limit(page.limit).execute();
}

/** One of the account's events; another account's id finds nothing. */
export function findEvent(db: Kysely<Database>, accountId: string, id: string): Promise<EventRow | undefined> {
  return db.selectFrom('events').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
}

/** The event a delivery carries (its row exists as long as the delivery does). */
export function eventOfDelivery(db: Kysely<Database>, delivery: { event_id: string }): Promise<EventRow> {
  return db.selectFrom('events').selectAll().where('id', '=', delivery.event_id).executeTakeFirstOrThrow();
}

/** Stores an event unless one with its dedupe key exists; either way, the stored event's id, and the new row when this stored it. */
export async function insertEventOnce(
  db: Kysely<Database>,
  event: { id: string; accountId: string; type: EventType; subjectId: string; dedupeKey: string; data: Record<string, unknown> },
): Promise<{ id: string; created: true; row: EventRow } | { id: string; created: false }> {
  const inserted = await db
    .insertInto('events')
    .values({
      id: event.id,
      account_id: event.accountId,
      type: event.type,
      subject_id: event.subjectId,
      dedupe_key: event.dedupeKey,
      data: JSON.stringify(event.data),
    })
    .onConflict((oc) => oc.column('dedupe_key').doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { id: inserted.id, created: true, row: inserted };
  const existing = await db.selectFrom('events').select('id').where('dedupe_key', '=', event.dedupeKey).executeTakeFirstOrThrow();
  return { id: existing.id, created: false };
}
