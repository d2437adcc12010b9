import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration imports nothing from the application.
// Each asset keeps the key of its blob; new ones are kept under their account
// (acc_…/assets/ast_…), those stored before under assets/<id>, where they stay.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('assets').addColumn('blob_key', 'text').execute();
  await sql`update assets set blob_key = 'assets/' || id`.execute(db);
  await db.schema
    .alterTable('assets')
    .alterColumn('blob_key', (c) => c.setNotNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('assets').dropColumn('blob_key').execute();
}
