import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration imports nothing from the application.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('api_keys')
    .addColumn('name', 'text', (c) => c.notNull().defaultTo('default'))
    .execute();
  await db.schema
    .alterTable('api_keys')
    .alterColumn('name', (c) => c.dropDefault())
    .execute();
  await sql`create index api_keys_live_idx on api_keys (account_id, id) where revoked_at is null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index api_keys_live_idx`.execute(db);
  await db.schema.alterTable('api_keys').dropColumn('name').execute();
}
