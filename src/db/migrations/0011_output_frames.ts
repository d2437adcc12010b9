import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration imports nothing from the application.
// How many frames an animated output has (null for a still image).
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table conversions add column output_frames integer`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table conversions drop column output_frames`.execute(db);
}
