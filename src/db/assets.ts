import type { Kysely } from 'kysely';
import type { Asset, Database } from './schema.js';

export function insertAsset(db: Kysely<Database>, asset: Omit<Asset, 'created_at'>): Promise<Asset> {
  return db.insertInto('assets').values(asset).returningAll().executeTakeFirstOrThrow();
}

export function findAsset(db: Kysely<Database>, accountId: string, id: string): Promise<Asset | undefined> {
  return db.selectFrom('assets').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
}

export function listAssets(db: Kysely<Database>, accountId: string, page: { limit: number; after?: string }): Promise<Asset[]> {
  let query = db.selectFrom('assets').selectAll().where('account_id', '=', accountId);
  if (page.after) query = query.where('id', '<', page.after);
  return query.orderBy('id', 'desc').limit(page.limit).execute();
}

export async function countAssets(db: Kysely<Database>, accountId: string): Promise<number> {
  const row = await db
    .selectFrom('assets')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('account_id', '=', accountId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Deletes the account's asset; answers its row (to delete its blob), or undefined when there was none. */
export function deleteAsset(db: Kysely<Database>, accountId: string, id: string): Promise<Asset | undefined> {
  return db.deleteFrom('assets').where('account_id', '=', accountId).where('id', '=', id).returningAll().executeTakeFirst();
}

/**
 * The blob keys of the assets `ids` that belong to the account owning the conversion: how a
 * converter finds a watermark. Another account's asset id is simply not found.
 */
export async function assetKeysForConversion(db: Kysely<Database>, conversionId: string, ids: string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .selectFrom('assets')
    .innerJoin('conversions', 'conversions.account_id', 'assets.account_id')
    .select(['assets.id', 'assets.blob_key'])
    .where('conversions.id', '=', conversionId)
    .where('assets.id', 'in', ids)
    .execute();
  return new Map(rows.map((row) => [row.id, row.blob_key]));
}

/** The ids among `ids` that are not assets of the account. */
export async function missingAssets(db: Kysely<Database>, accountId: string, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('assets').select('id').where('account_id', '=', accountId).where('id', 'in', ids).execute();
  const found = new Set(rows.map((row) => row.id));
  return ids.filter((id) => !found.has(id));
}
