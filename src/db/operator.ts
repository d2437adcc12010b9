import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';

/** An account as the operator's list shows it: what it has in flight and set up. */
export interface AccountSummary {
  id: string;
  name: string;
  created_at: Date;
  conversions_active: number;
  endpoints: number;
  api_keys: number;
}

/** Accounts, newest first, each with its counts (`after`: the id the previous page ended at; `id`: that one alone). */
export async function listAccountSummaries(db: Kysely<Database>, page: { limit: number; after?: string; id?: string }): Promise<AccountSummary[]> {
  let query = db
    .selectFrom('accounts as a')
    .select(['a.id', 'a.name', 'a.created_at'])
    .select((eb) => [
      eb
        .selectFrom('conversions')
        .select(sql<number>`count(*)::int`.as('n'))
        .whereRef('conversions.account_id', '=', 'a.id')
        .where('conversions.status', 'in', ['queued', 'running'])
        .as('conversions_active'),
      eb
        .selectFrom('webhook_endpoints')
        .select(sql<number>`count(*)::int`.as('n'))
        .whereRef('webhook_endpoints.account_id', '=', 'a.id')
        .as('endpoints'),
      eb
        .selectFrom('api_keys')
        .select(sql<number>`count(*)::int`.as('n'))
        .whereRef('api_keys.account_id', '=', 'a.id')
        .where('api_keys.revoked_at', 'is', null)
        .where((w) => w.or([w('api_keys.expires_at', 'is', null), w('api_keys.expires_at', '>', sql<Date>`now()`)]))
        .as('api_keys'),
    ]);
  if (page.after) query = query.where('a.id', '<', page.after);
  if (page.id) query = query.where('a.id', '=', page.id);
  const rows = await query.orderBy('a.id', 'desc').limit(page.limit).execute();
  return rows.map((row) => ({
    ...row,
    conversions_active: row.conversions_active ?? 0,
    endpoints: row.endpoints ?? 0,
    api_keys: row.api_keys ?? 0,
  }));
}

/** Work Kiln holds in flight across every account, as its own tables count it. */
export async function workInFlight(
  db: Kysely<Database>,
): Promise<{ conversions_queued: number; conversions_running: number; jobs_running: number; deliveries_pending: number }> {
  const row = await sql<{ conversions_queued: number; conversions_running: number; jobs_running: number; deliveries_pending: number }>`
    select
      (select count(*)::int from conversions where status = 'queued') as conversions_queued,
      (select count(*)::int from conversions where status = 'running') as conversions_running,
      (select count(*)::int from jobs where status in ('queued', 'running')) as jobs_running,
      (select count(*)::int from deliveries where status = 'pending') as deliveries_pending`.execute(db);
  return row.rows[0]!;
}

/** Revokes a live key of any account; false when there is none with that id. */
export async function revokeAnyApiKey(db: Kysely<Database>, id: string): Promise<boolean> {
  const result = await db
    .updateTable('api_keys')
    .set({ revoked_at: sql`now()` })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
