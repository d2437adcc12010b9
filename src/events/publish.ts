import type { Kysely } from 'kysely';
import { newId } from '../ids.js';
import type { Database } from '../db/schema.js';
import type { EventType } from './catalog.js';

export interface PublishedEvent {
  id: string;
  type: EventType;
  created: boolean;
}

/**
 * Stores an event once. `dedupeKey` names the logical event, so an activity retried
 * after a crash gets the same event back instead of a second one.
 * This is the seam webhook delivery hangs off: subscribers are found from here.
 */
export async function publishEvent(
  db: Kysely<Database>,
  event: { accountId: string; type: EventType; subjectId: string; dedupeKey: string; data: Record<string, unknown> },
): Promise<PublishedEvent> {
  const inserted = await db
    .insertInto('events')
    .values({
      id: newId('evt'),
      account_id: event.accountId,
      type: event.type,
      subject_id: event.subjectId,
      dedupe_key: event.dedupeKey,
      data: JSON.stringify(event.data),
    })
    .onConflict((oc) => oc.column('dedupe_key').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (inserted) return { id: inserted.id, type: event.type, created: true };
  const existing = await db.selectFrom('events').select('id').where('dedupe_key', '=', event.dedupeKey).executeTakeFirstOrThrow();
  return { id: existing.id, type: event.type, created: false };
}
