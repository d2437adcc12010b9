import { sql, type Kysely, type Transaction } from 'kysely';
import type { AccountLimits } from '../model/limits.js';
import type { Database } from './schema.js';

/** What one account holds and has started, as its quotas count it. */

/**
 * Locks the account's row for the rest of the transaction and reads its own limits: every
 * process checking a quota of the account takes this lock first, so two requests never
 * both pass on the same last unit of a quota.
 */
export async function lockAccountLimits(trx: Transaction<Database>, accountId: string): Promise<AccountLimits> {
  const row = await trx.selectFrom('accounts').select('limits').where('id', '=', accountId).forUpdate().executeTakeFirstOrThrow();
  return row.limits;
}

export async function readAccountLimits(db: Kysely<Database>, accountId: string): Promise<AccountLimits> {
  const limits = await findAccountLimits(db, accountId);
  if (!limits) throw new Error(`no account ${accountId}`);
  return limits;
}

/** The account's own limits; undefined if there is no such account. */
export async function findAccountLimits(db: Kysely<Database>, accountId: string): Promise<AccountLimits | undefined> {
  const row = await db.selectFrom('accounts').select('limits').where('id', '=', accountId).executeTakeFirst();
  return row?.limits;
}

/** Replaces the account's own limits (absent keys follow the configured defaults); undefined if there is no such account. */
export async function setAccountLimits(db: Kysely<Database>, accountId: string, limits: AccountLimits): Promise<AccountLimits | undefined> {
  const row = await db
    .updateTable('accounts')
    .set({ limits: JSON.stringify(limits) })
    .where('id', '=', accountId)
    .returning('limits')
    .executeTakeFirst();
  return row?.limits;
}

/** Conversions of the account queued or converting now. */
export async function countActiveConversions(db: Kysely<Database>, accountId: string): Promise<number> {
  const row = await db
    .selectFrom('conversions')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('account_id', '=', accountId)
    .where('status', 'in', ['queued', 'running'])
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Conversions the account started from `idFloor` on (ids sort by creation time). */
export async function countConversionsFrom(db: Kysely<Database>, accountId: string, idFloor: string): Promise<number> {
  const row = await db
    .selectFrom('conversions')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('account_id', '=', accountId)
    .where('id', '>=', idFloor)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Bytes the account keeps: each original once (a job may share an earlier conversion's),
 * every output and rendition, every asset; what retention has deleted no longer counts.
 */
export async function storedBytes(db: Kysely<Database>, accountId: string): Promise<number> {
  const result = await sql<{ originals: number | null; outputs: number | null; assets: number | null }>`
    select
      (select sum(bytes) from (
         select distinct on (input_key) input_bytes as bytes from conversions
         where account_id = ${accountId} and input_purged_at is null) as originals) as originals,
      (select sum(coalesce(
         (select sum((rendition->>'bytes')::bigint) from jsonb_array_elements(outputs) as rendition),
         output_bytes, 0))
       from conversions where account_id = ${accountId} and output_purged_at is null) as outputs,
      (select sum(bytes) from assets where account_id = ${accountId}) as assets`.execute(db);
  const row = result.rows[0]!;
  return Number(row.originals ?? 0) + Number(row.outputs ?? 0) + Number(row.assets ?? 0);
}

export async function countEndpoints(db: Kysely<Database>, accountId: string): Promise<number> {
  const row = await db
    .selectFrom('webhook_endpoints')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('account_id', '=', accountId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Across the deployment: conversions waiting for a converter, and those finished in the last `seconds`. */
export async function convertBacklog(db: Kysely<Database>, seconds: number): Promise<{ queued: number; finishedRecently: number }> {
  const result = await sql<{ queued: number; finished: number }>`
    select
      (select count(*) from conversions where status in ('queued', 'running')) as queued,
      (select count(*) from conversions where completed_at > now() - make_interval(secs => ${seconds})) as finished`.execute(db);
  const row = result.rows[0]!;
  return { queued: Number(row.queued), finishedRecently: Number(row.finished) };
}

/** Conversions queued or converting, per account (the metrics' queue depth). */
export async function activeConversionsByAccount(db: Kysely<Database>): Promise<Array<{ labels: { account: string }; count: number }>> {
  const rows = await db
    .selectFrom('conversions')
    .select(['account_id', (eb) => eb.fn.countAll<string>().as('n')])
    .where('status', 'in', ['queued', 'running'])
    .groupBy('account_id')
    .execute();
  return rows.map((row) => ({ labels: { account: row.account_id }, count: Number(row.n) }));
}
