import { sql, type Kysely } from 'kysely';
import type { EventType } from '../model/event-catalog.js';
import type { Database, EventRow, FanOutRouting, StoredEventRow } from './schema.js';

/** The account's events, newest first (`after`: the id the previous page ended at). */
export function listEvents(
  db: Kysely<Database>,
  accountId: string,
  filter: { type?: EventType; subjectId?: string },
  page: { limit: number; after?: string },
): Promise<StoredEventRow[]> {
  let query = db.selectFrom('events').selectAll().where('account_id', '=', accountId);
  if (filter.type) query = query.where('type', '=', filter.type);
  if (filter.subjectId) query = query.where('subject_id', '=', filter.subjectId);
  if (page.after) query = query.where('id', '<', page.after);
  return query.orderBy('id', 'desc').limit(page.limit).execute();
}

/** One of the account's events; another account's id finds nothing. */
export function findEvent(db: Kysely<Database>, accountId: string, id: string): Promise<StoredEventRow | undefined> {
  return db.selectFrom('events').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
}

/** The event a delivery carries (its row exists as long as the delivery does). */
export function eventOfDelivery(db: Kysely<Database>, delivery: { event_id: string }): Promise<StoredEventRow> {
  return db.selectFrom('events').selectAll().where('id', '=', delivery.event_id).executeTakeFirstOrThrow();
}

export interface NewEvent {
  id: string;
  accountId: string;
  type: EventType;
  subjectId: string;
  dedupeKey: string;
  data: Record<string, unknown>;
}

/**
 * Stores each event unless one with its dedupe key exists; answers, in order, the new row
 * for each event this stored, and the stored event's id for each that existed.
 */
export async function insertEventsOnce(
  db: Kysely<Database>,
  events: NewEvent[],
): Promise<Array<{ id: string; created: true; row: EventRow } | { id: string; created: false }>> {
  if (events.length === 0) return [];
  const inserted = await db
    .insertInto('events')
    .values(
      events.map((event) => ({
        id: event.id,
        account_id: event.accountId,
        type: event.type,
        subject_id: event.subjectId,
        dedupe_key: event.dedupeKey,
        data: JSON.stringify(event.data),
      })),
    )
    .onConflict((oc) => oc.column('dedupe_key').doNothing())
    .returningAll()
    .execute();
  const byKey = new Map(inserted.map((row) => [row.dedupe_key, row]));
  const missing = events.filter((event) => !byKey.has(event.dedupeKey)).map((event) => event.dedupeKey);
  const existing = missing.length === 0 ? [] : await db.selectFrom('events').select(['id', 'dedupe_key']).where('dedupe_key', 'in', missing).execute();
  const existingIds = new Map(existing.map((row) => [row.dedupe_key, row.id]));
  return events.map((event) => {
    const row = byKey.get(event.dedupeKey);
    if (row) return { id: row.id, created: true as const, row };
    const id = existingIds.get(event.dedupeKey);
    if (!id) throw new Error(`event ${event.dedupeKey} was neither stored nor found`);
    return { id, created: false as const };
  });
}

/**
 * The events of one subject (a job, a conversion) in the order they were stored, after the
 * event `afterId` when given (an id not of this subject finds nothing after it).
 */
export function subjectEventsAfter(
  db: Kysely<Database>,
  accountId: string,
  subjectId: string,
  afterId: string | undefined,
  limit: number,
): Promise<EventRow[]> {
  let query = db.selectFrom('events').selectAll().where('account_id', '=', accountId).where('subject_id', '=', subjectId);
  if (afterId) {
    query = query.where('seq', '>', (eb) => eb.selectFrom('events').select('seq').where('id', '=', afterId).where('subject_id', '=', subjectId));
  }
  return query.orderBy('seq').limit(limit).execute();
}

/** The type of event `eventId` when it is an event of `subjectId`. */
export async function typeOfSubjectEvent(db: Kysely<Database>, subjectId: string, eventId: string): Promise<EventType | undefined> {
  return (await db.selectFrom('events').select('type').where('id', '=', eventId).where('subject_id', '=', subjectId).executeTakeFirst())?.type;
}

/**
 * The account's events after `afterId` (its own id; from the start when absent), in the
 * order their transactions began, then storage order: only events whose transaction, and
 * every one before it, has ended (below the snapshot's xmin), so no event committed later
 * can fall behind a reader's cursor. Each event shows up once every transaction older
 * than it is over: a long transaction anywhere in the database holds the stream back.
 */
export async function accountEventsAfter(
  db: Kysely<Database>,
  accountId: string,
  filter: { types?: readonly EventType[]; subjectId?: string },
  afterId: string | undefined,
  limit: number,
): Promise<EventRow[]> {
  const types = filter.types?.length ? sql`and type in (${sql.join(filter.types)})` : sql``;
  const subject = filter.subjectId ? sql`and subject_id = ${filter.subjectId}` : sql``;
  const after = afterId ? sql`and (xid, seq) > (select xid, seq from events where id = ${afterId} and account_id = ${accountId})` : sql``;
  const rows = await sql<EventRow>`
    select id, account_id, type, subject_id, dedupe_key, data, created_at from events
    where account_id = ${accountId} and xid < pg_snapshot_xmin(pg_current_snapshot()) ${types} ${subject} ${after}
    order by xid, seq limit ${limit}`.execute(db);
  return rows.rows;
}

/** The type of `eventId` when it is one of the account's events. */
export async function typeOfAccountEvent(db: Kysely<Database>, accountId: string, eventId: string): Promise<EventType | undefined> {
  return (await db.selectFrom('events').select('type').where('id', '=', eventId).where('account_id', '=', accountId).executeTakeFirst())?.type;
}

/** The account's last event in accountEventsAfter's order, of those settled: a stream that starts after it sends what comes next. */
export async function latestSettledAccountEvent(db: Kysely<Database>, accountId: string): Promise<string | undefined> {
  const rows = await sql<{ id: string }>`
    select id from events where account_id = ${accountId} and xid < pg_snapshot_xmin(pg_current_snapshot())
    order by xid desc, seq desc limit 1`.execute(db);
  return rows.rows[0]?.id;
}

/** Stores on each of `eventIds` that its deliveries are still to be planned, and how. */
export async function oweFanOut(db: Kysely<Database>, eventIds: string[], routing: FanOutRouting): Promise<void> {
  if (eventIds.length === 0) return;
  await db
    .updateTable('events')
    .set({ fanout: JSON.stringify(routing) })
    .where('id', 'in', eventIds)
    .execute();
}

export async function owesFanOut(db: Kysely<Database>, eventId: string): Promise<boolean> {
  const row = await db.selectFrom('events').select('id').where('id', '=', eventId).where('fanout', 'is not', null).executeTakeFirst();
  return row !== undefined;
}

export async function fanOutDone(db: Kysely<Database>, eventId: string): Promise<void> {
  await db.updateTable('events').set({ fanout: null }).where('id', '=', eventId).execute();
}

/** Events whose fan-out has been owed longer than `olderThanSeconds`: their planner died or failed. */
export async function eventsOwingFanOut(db: Kysely<Database>, olderThanSeconds: number, limit: number): Promise<string[]> {
  const rows = await db
    .selectFrom('events')
    .select('id')
    .where('fanout', 'is not', null)
    .where('created_at', '<', sql<Date>`now() - make_interval(secs => ${olderThanSeconds})`)
    .orderBy('created_at')
    .limit(limit)
    .execute();
  return rows.map((row) => row.id);
}
