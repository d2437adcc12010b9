import { generateWebhookSecret } from '../signing/webhook-signature.js';
import type { Kysely } from 'kysely';
import { newId } from '../ids.js';
import { issueApiKey, type IssuedApiKey } from './api-keys.js';
import type { Account, Database } from './schema.js';

export class AccountExistsError extends Error {}

export async function createAccountWithKey(db: Kysely<Database>, name: string, keyName = 'default'): Promise<{ account: Account; apiKey: IssuedApiKey }> {
  return db.transaction().execute(async (trx) => {
    const existing = await trx.selectFrom('accounts').select('id').where('name', '=', name).executeTakeFirst();
    if (existing) throw new AccountExistsError(`an account named "${name}" already exists`);
    const account = await trx
      .insertInto('accounts')
      .values({ id: newId('acc'), name, webhook_secret: generateWebhookSecret() })
      .returningAll()
      .executeTakeFirstOrThrow();
    const apiKey = await issueApiKey(trx, account.id, keyName);
    return { account, apiKey };
  });
}

async function findAccountByName(db: Kysely<Database>, name: string): Promise<Account | undefined> {
  return db.selectFrom('accounts').selectAll().where('name', '=', name).executeTakeFirst();
}

/** A new API key for the account named `name`, creating the account first when there is none. */
export async function issueApiKeyForAccountName(
  db: Kysely<Database>,
  name: string,
  keyName: string,
): Promise<{ account: Account; apiKey: IssuedApiKey; createdAccount: boolean }> {
  const existing = await findAccountByName(db, name);
  if (existing) return { account: existing, apiKey: await issueApiKey(db, existing.id, keyName), createdAccount: false };
  return { ...(await createAccountWithKey(db, name, keyName)), createdAccount: true };
}

/** The account with this id, if there is one. */
export function findAccount(db: Kysely<Database>, id: string): Promise<Account | undefined> {
  return db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findAccountById(db: Kysely<Database>, id: string): Promise<Account> {
  return db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

export interface RequestWebhookSettingValues {
  webhook_signature?: string | null;
  webhook_template?: string | null;
  webhook_headers?: string;
  webhook_rate_limit?: number | null;
}

/** The account's webhook_url delivery settings that are given (JSON text for the jsonb ones); answers the account as it stands after. */
export async function updateRequestWebhookSettings(db: Kysely<Database>, account: Account, values: RequestWebhookSettingValues): Promise<Account> {
  if (Object.keys(values).length === 0) return account;
  return db.updateTable('accounts').set(values).where('id', '=', account.id).returningAll().executeTakeFirstOrThrow();
}
