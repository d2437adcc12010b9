import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration imports nothing from the application.
// Every output of a conversion that asked for several (renditions): key, name and facts of each.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table conversions add column outputs jsonb`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table conversions drop column outputs`.execute(db);
}
