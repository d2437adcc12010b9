import { sql, type Kysely } from 'kysely';
import type { Database, IdempotencyKey } from './schema.js';

export interface StoredResponse {
  status: number;
  type: string;
  location: string | null;
  body: string;
}

/**
 * Takes `key` for one request: true when this request now owns it. A key is free when it
 * was never used, has expired, or was left in flight longer than `abandonAfterSeconds`
 * (its process died mid-request).
 */
export async function claimIdempotencyKey(
  db: Kysely<Database>,
  claim: { accountId: string; key: string; fingerprint: string; ttlSeconds: number; abandonAfterSeconds: number },
): Promise<boolean> {
  const expiresAt = sql<Date>`now() + make_interval(secs => ${claim.ttlSeconds})`;
  const row = await db
    .insertInto('idempotency_keys')
    .values({ account_id: claim.accountId, key: claim.key, fingerprint: claim.fingerprint, state: 'in_flight', expires_at: expiresAt })
    .onConflict((oc) =>
      oc
        .columns(['account_id', 'key'])
        .doUpdateSet({
          fingerprint: claim.fingerprint,
          state: 'in_flight',
          response_status: null,
          response_type: null,
          response_location: null,
          response_body: null,
          claimed_at: sql`now()`,
          expires_at: expiresAt,
        })
        .where((eb) =>
          eb.or([
            eb('idempotency_keys.expires_at', '<', sql<Date>`now()`),
            eb.and([
              eb('idempotency_keys.state', '=', 'in_flight'),
              eb('idempotency_keys.claimed_at', '<', sql<Date>`now() - make_interval(secs => ${claim.abandonAfterSeconds})`),
            ]),
          ]),
        ),
    )
    .returning('key')
    .executeTakeFirst();
  return row !== undefined;
}

export function findIdempotencyKey(db: Kysely<Database>, accountId: string, key: string): Promise<IdempotencyKey | undefined> {
  return db.selectFrom('idempotency_keys').selectAll().where('account_id', '=', accountId).where('key', '=', key).executeTakeFirst();
}

/** Stores the answer the owning request gave, for replays until the key expires. */
export async function completeIdempotencyKey(db: Kysely<Database>, accountId: string, key: string, response: StoredResponse): Promise<void> {
  await db
    .updateTable('idempotency_keys')
    .set({ state: 'done', response_status: response.status, response_type: response.type, response_location: response.location, response_body: response.body })
    .where('account_id', '=', accountId)
    .where('key', '=', key)
    .execute();
}

/** Gives the key up: the request failed before it changed anything, so the client may retry with it. */
export async function releaseIdempotencyKey(db: Kysely<Database>, accountId: string, key: string): Promise<void> {
  await db.deleteFrom('idempotency_keys').where('account_id', '=', accountId).where('key', '=', key).where('state', '=', 'in_flight').execute();
}

export async function deleteExpiredIdempotencyKeys(db: Kysely<Database>): Promise<number> {
  const result = await db
    .deleteFrom('idempotency_keys')
    .where('expires_at', '<', sql<Date>`now()`)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
