import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration imports nothing from the application.
// A per-request webhook_url may ask for some event types only (webhook_events): stored with
// the conversion or the job it came with; null means every event, as before.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table conversions add column webhook_events jsonb`.execute(db);
  await sql`alter table jobs add column webhook_events jsonb`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table jobs drop column webhook_events`.execute(db);
  await sql`alter table conversions drop column webhook_events`.execute(db);
}
