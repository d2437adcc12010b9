import { sql, type Kysely } from 'kysely';
import { newId } from '../ids.js';
import type { Database, Preset } from './schema.js';

export async function createPreset(db: Kysely<Database>, accountId: string, name: string, options: Record<string, string>): Promise<Preset | undefined> {
  return db
    .insertInto('presets')
    .values({ id: newId('pst'), account_id: accountId, name, options: JSON.stringify(options) })
    .onConflict((oc) => oc.columns(['account_id', 'name']).doNothing())
    .returningAll()
    .executeTakeFirst();
}

export function listPresets(db: Kysely<Database>, accountId: string, page: { limit: number; after?: string }): Promise<Preset[]> {
  let query = db.selectFrom('presets').selectAll().where('account_id', '=', accountId);
  if (page.after) query = query.where('id', '<', page.after);
  return query.orderBy('id', 'desc').limit(page.limit).execute();
}

export async function countPresets(db: Kysely<Database>, accountId: string): Promise<number> {
  const row = await db
    .selectFrom('presets')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('account_id', '=', accountId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export function findPreset(db: Kysely<Database>, accountId: string, name: string): Promise<Preset | undefined> {
  return db.selectFrom('presets').selectAll().where('account_id', '=', accountId).where('name', '=', name).executeTakeFirst();
}

/** The account's presets of these names, by name (those that exist). */
export async function presetsNamed(db: Kysely<Database>, accountId: string, names: string[]): Promise<Map<string, Record<string, string>>> {
  if (names.length === 0) return new Map();
  const rows = await db.selectFrom('presets').select(['name', 'options']).where('account_id', '=', accountId).where('name', 'in', names).execute();
  return new Map(rows.map((row) => [row.name, row.options]));
}

export function replacePresetOptions(db: Kysely<Database>, accountId: string, name: string, options: Record<string, string>): Promise<Preset | undefined> {
  return db
    .updateTable('presets')
    .set({ options: JSON.stringify(options), updated_at: sql`now()` })
    .where('account_id', '=', accountId)
    .where('name', '=', name)
    .returningAll()
    .executeTakeFirst();
}

export async function deletePreset(db: Kysely<Database>, accountId: string, name: string): Promise<boolean> {
  const result = await db.deleteFrom('presets').where('account_id', '=', accountId).where('name', '=', name).executeTakeFirst();
  return result.numDeletedRows > 0n;
}
