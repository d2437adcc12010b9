import type { Kysely } from 'kysely';
import type { Asset, Database } from './schema.js';

/** Where an asset's bytes are kept: by id alone, so a converter can read one it is named. */
export function assetKey(assetId: string): string {
  return `assets/${assetId}`;
}

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

export async function deleteAsset(db: Kysely<Database>, accountId: string, id: string): Promise<boolean> {
  const result = await db.deleteFrom('assets').where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
  return result.numDeletedRows > 0n;
}
