import { generateWebhookSecret } from '../webhooks/signing.js';
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { newId, randomAlnum } from '../ids.js';
import type { Account, Database } from './schema.js';

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export class AccountExistsError extends Error {}

export interface IssuedApiKey {
  id: string;
  /** The whole key; it is shown once and only its hash is stored. */
  key: string;
  prefix: string;
}

export async function issueApiKey(db: Kysely<Database>, accountId: string): Promise<IssuedApiKey> {
  const key = `kiln_${randomAlnum(40)}`;
  const row = { id: newId('key'), account_id: accountId, prefix: key.slice(0, 12), key_hash: hashApiKey(key) };
  await db.insertInto('api_keys').values(row).execute();
  return { id: row.id, key, prefix: row.prefix };
}

export async function createAccountWithKey(db: Kysely<Database>, name: string): Promise<{ account: Account; apiKey: IssuedApiKey }> {
  return db.transaction().execute(async (trx) => {
    const existing = await trx.selectFrom('accounts').select('id').where('name', '=', name).executeTakeFirst();
    if (existing) throw new AccountExistsError(`an account named "${name}" already exists`);
    const account = await trx.insertInto('accounts').values({ id: newId('acc'), name, webhook_secret: generateWebhookSecret() }).returningAll().executeTakeFirstOrThrow();
    const apiKey = await issueApiKey(trx, account.id);
    return { account, apiKey };
  });
}

export async function findAccountByName(db: Kysely<Database>, name: string): Promise<Account | undefined> {
  return db.selectFrom('accounts').selectAll().where('name', '=', name).executeTakeFirst();
}

/** A new API key for the account named `name`, creating the account first when there is none. */
export async function issueApiKeyForAccountName(
  db: Kysely<Database>,
  name: string,
): Promise<{ account: Account; apiKey: IssuedApiKey; createdAccount: boolean }> {
  const existing = await findAccountByName(db, name);
  if (existing) return { account: existing, apiKey: await issueApiKey(db, existing.id), createdAccount: false };
  return { ...(await createAccountWithKey(db, name)), createdAccount: true };
}

/** The account an API key belongs to, or undefined for an unknown or revoked key. */
export async function accountForApiKey(db: Kysely<Database>, key: string): Promise<Account | undefined> {
  return db
    .selectFrom('api_keys')
    .innerJoin('accounts', 'accounts.id', 'api_keys.account_id')
    .selectAll('accounts')
    .where('api_keys.key_hash', '=', hashApiKey(key))
    .where('api_keys.revoked_at', 'is', null)
    .executeTakeFirst();
}
