import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration imports nothing from the application.
// How many pages the original has: a PDF's pages (even one), a collection's images, an
// animation's frames; null for a single image, or before the conversion has read it.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table conversions add column input_pages integer`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table conversions drop column input_pages`.execute(db);
}
