import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { randomAlnum } from '../ids.js';
import { issueApiKey, type IssuedApiKey } from './api-keys.js';
import type { Account, Database } from './schema.js';

const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

/** A new sign-in link's token for the account, good once within `ttlSeconds`; only its hash is stored. */
export async function createSignInLink(db: Kysely<Database>, accountId: string, ttlSeconds: number): Promise<{ token: string; expiresAt: Date }> {
  const token = `kiln_signin_${randomAlnum(40)}`;
  const row = await db
    .insertInto('sign_in_links')
    .values({ token_hash: hashToken(token), account_id: accountId, expires_at: sql<Date>`now() + make_interval(secs => ${ttlSeconds})` })
    .returning('expires_at')
    .executeTakeFirstOrThrow();
  return { token, expiresAt: row.expires_at };
}

export type Redeemed = { account: Account; key: IssuedApiKey } | { refused: 'not_found' | 'used' | 'expired' };

/**
 * Exchanges a link's token, once, for a key of its account that expires after
 * `sessionSeconds`. The link is marked used in the same transaction the key is made in,
 * so two tabs racing with one link get one key between them.
 */
export async function redeemSignInLink(db: Kysely<Database>, token: string, sessionSeconds: number): Promise<Redeemed> {
  return db.transaction().execute(async (trx) => {
    const link = await trx
      .selectFrom('sign_in_links')
      .select(['account_id', 'used_at', sql<boolean>`expires_at <= now()`.as('expired')])
      .where('token_hash', '=', hashToken(token))
      .forUpdate()
      .executeTakeFirst();
    if (!link) return { refused: 'not_found' as const };
    if (link.used_at) return { refused: 'used' as const };
    if (link.expired) return { refused: 'expired' as const };
    await trx
      .updateTable('sign_in_links')
      .set({ used_at: sql`now()` })
      .where('token_hash', '=', hashToken(token))
      .execute();
    const account = await trx.selectFrom('accounts').selectAll().where('id', '=', link.account_id).executeTakeFirstOrThrow();
    const expiresAt = new Date(Date.now() + sessionSeconds * 1000);
    const key = await issueApiKey(trx, account.id, `dashboard sign-in ${new Date().toISOString().slice(0, 16).replace('T', ' ')}`, expiresAt);
    return { account, key };
  });
}

/** Removes links that can no longer be used (expired a day ago); answers how many. */
export async function purgeSignInLinks(db: Kysely<Database>): Promise<number> {
  const result = await db
    .deleteFrom('sign_in_links')
    .where('expires_at', '<', sql<Date>`now() - interval '1 day'`)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
