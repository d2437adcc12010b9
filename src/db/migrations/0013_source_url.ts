import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration imports nothing from the application.
// A conversion whose original is fetched from a URL instead of uploaded.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table conversions add column source_url text`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table conversions drop column source_url`.execute(db);
}
