import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { newId, randomAlnum } from '../ids.js';
import type { Account, ApiKey, Database } from './schema.js';

function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export interface IssuedApiKey {
  id: string;
  name: string;
  /** The whole key; it is shown once and only its hash is stored. */
  key: string;
  prefix: string;
  created_at: Date;
  expires_at: Date | null;
}

/** A new key of the account; one given `expiresAt` stops working then (a sign-in link's session). */
export async function issueApiKey(db: Kysely<Database>, accountId: string, name: string, expiresAt: Date | null = null): Promise<IssuedApiKey> {
  const key = `kiln_${randomAlnum(40)}`;
  const row = await db
    .insertInto('api_keys')
    .values({ id: newId('key'), account_id: accountId, name, prefix: key.slice(0, 12), key_hash: hashApiKey(key), expires_at: expiresAt })
    .returning(['id', 'name', 'prefix', 'created_at', 'expires_at'])
    .executeTakeFirstOrThrow();
  return { ...row, key };
}

/** `last_used_at` is written at most this often per key, so using a key costs no write on most requests. */
const LAST_USED_RESOLUTION_SECONDS = 60;

/** The account an API key belongs to, or undefined for an unknown or revoked key; notes the use now and then. */
export async function accountForApiKey(db: Kysely<Database>, key: string): Promise<Account | undefined> {
  const held = await apiKeyHolder(db, key);
  return held === 'expired' ? undefined : held;
}

/**
 * The account an API key belongs to; `expired` for a key whose time is up (a sign-in
 * link's session), so the caller can say so; undefined for an unknown or revoked key.
 */
export async function apiKeyHolder(db: Kysely<Database>, key: string): Promise<Account | 'expired' | undefined> {
  const found = await db
    .selectFrom('api_keys')
    .innerJoin('accounts', 'accounts.id', 'api_keys.account_id')
    .selectAll('accounts')
    .select(['api_keys.id as key_id', 'api_keys.last_used_at as key_last_used_at', sql<boolean>`api_keys.expires_at <= now()`.as('key_expired')])
    .where('api_keys.key_hash', '=', hashApiKey(key))
    .where('api_keys.revoked_at', 'is', null)
    .executeTakeFirst();
  if (!found) return undefined;
  const { key_id: keyId, key_last_used_at: lastUsed, key_expired: expired, ...account } = found;
  if (expired) return 'expired';
  if (!lastUsed || Date.now() - lastUsed.getTime() > LAST_USED_RESOLUTION_SECONDS * 1000) {
    await db
      .updateTable('api_keys')
      .set({ last_used_at: sql`now()` })
      .where('id', '=', keyId)
      .execute();
  }
  return account;
}

/** The account's live keys (neither revoked nor expired), newest first (`after`: the id the previous page ended at). */
export function listApiKeys(db: Kysely<Database>, accountId: string, page: { limit: number; after?: string }): Promise<ApiKey[]> {
  let query = db
    .selectFrom('api_keys')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('revoked_at', 'is', null)
    .where((w) => w.or([w('expires_at', 'is', null), w('expires_at', '>', sql<Date>`now()`)]));
  if (page.after) query = query.where('id', '<', page.after);
  return query.orderBy('id', 'desc').limit(page.limit).execute();
}

/** Revokes a live key of the account; false when there is none with that id. From now on it answers 401. */
export async function revokeApiKey(db: Kysely<Database>, accountId: string, id: string): Promise<boolean> {
  const result = await db
    .updateTable('api_keys')
    .set({ revoked_at: sql`now()` })
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
