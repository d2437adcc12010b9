import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration imports nothing from the application.
// Short-lived sign-in links for the dashboard: a link's token is stored hashed, used once,
// and exchanged for an API key that expires (the tab's session), so a key a link made
// stops working by itself. Keys made otherwise keep expires_at null: they never expire.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('api_keys').addColumn('expires_at', 'timestamptz').execute();
  await db.schema
    .createTable('sign_in_links')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('sign_in_links_expires_idx').on('sign_in_links').column('expires_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('sign_in_links').execute();
  await db.schema.alterTable('api_keys').dropColumn('expires_at').execute();
}
