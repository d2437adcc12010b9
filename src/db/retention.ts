import { sql, type Kysely } from 'kysely';
import type { Database, StoredRendition } from './schema.js';

/** The statuses a conversion ends in: only these are ever purged. */
const FINISHED = ['succeeded', 'failed', 'cancelled'] as const;

/**
 * Original keys every conversion that reads them finished before `before` (an original is
 * shared by the conversions of jobs that named an earlier upload), with those conversions.
 */
export async function originalsPastRetention(db: Kysely<Database>, before: Date, limit: number): Promise<Array<{ key: string; conversionIds: string[] }>> {
  const rows = await db
    .selectFrom('conversions')
    .select(['input_key', sql<string[]>`array_agg(id order by id)`.as('ids')])
    .where('input_purged_at', 'is', null)
    .groupBy('input_key')
    .having(sql<boolean>`bool_and(status in (${sql.join(FINISHED)}) and completed_at < ${before})`)
    .orderBy('input_key')
    .limit(limit)
    .execute();
  return rows.map((row) => ({ key: row.input_key, conversionIds: row.ids }));
}

export async function markOriginalsPurged(db: Kysely<Database>, conversionIds: string[], at: Date): Promise<void> {
  if (conversionIds.length === 0) return;
  await db.updateTable('conversions').set({ input_purged_at: at }).where('id', 'in', conversionIds).execute();
}

/** Finished conversions with outputs, finished before `before`, whose outputs are still kept. */
export async function outputsPastRetention(
  db: Kysely<Database>,
  before: Date,
  limit: number,
): Promise<Array<{ id: string; output_key: string; outputs: StoredRendition[] | null }>> {
  const rows = await db
    .selectFrom('conversions')
    .select(['id', 'output_key', 'outputs'])
    .where('output_purged_at', 'is', null)
    .where('output_key', 'is not', null)
    .where('status', 'in', FINISHED)
    .where('completed_at', '<', before)
    .orderBy('completed_at')
    .limit(limit)
    .execute();
  return rows.map((row) => ({ id: row.id, output_key: row.output_key!, outputs: row.outputs }));
}

export async function markOutputsPurged(db: Kysely<Database>, conversionIds: string[], at: Date): Promise<void> {
  if (conversionIds.length === 0) return;
  await db.updateTable('conversions').set({ output_purged_at: at }).where('id', 'in', conversionIds).execute();
}

/** Empties the payloads of up to `limit` events stored before `before` that no pending delivery still needs; answers how many. */
export async function purgeEventPayloads(db: Kysely<Database>, before: Date, limit: number, at: Date): Promise<number> {
  const result = await db
    .updateTable('events')
    .set({ data: JSON.stringify({}), payload_purged_at: at })
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('events')
        .select('id')
        .where('payload_purged_at', 'is', null)
        .where('created_at', '<', before)
        .where((inner) =>
          inner.not(
            inner.exists(
              inner
                .selectFrom('deliveries')
                .select('deliveries.id')
                .whereRef('deliveries.event_id', '=', 'events.id')
                .where('deliveries.status', '=', 'pending'),
            ),
          ),
        )
        .limit(limit),
    )
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Removes the response body previews and requests of up to `limit` attempts made before `before`; answers how many. */
export async function purgeAttemptPreviews(db: Kysely<Database>, before: Date, limit: number): Promise<number> {
  const result = await db
    .updateTable('delivery_attempts')
    .set({ response_body_preview: null, request_headers: null, request_body: null })
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('delivery_attempts')
        .select('id')
        .where((w) => w.or([w('response_body_preview', 'is not', null), w('request_body', 'is not', null)]))
        .where('started_at', '<', before)
        .limit(limit),
    )
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
