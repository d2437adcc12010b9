import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration imports nothing from the application.
// The shape a receiver written for another service expects: an extra signature header
// (its settings as JSON) and a payload template (JSONata text), per endpoint, and per
// account for deliveries to a conversion's or job's own webhook_url (with that account's
// custom headers).
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table webhook_endpoints add column signature jsonb, add column template text`.execute(db);
  await sql`alter table accounts add column webhook_signature jsonb, add column webhook_template text, add column webhook_headers jsonb not null default '{}'::jsonb`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table accounts drop column webhook_signature, drop column webhook_template, drop column webhook_headers`.execute(db);
  await sql`alter table webhook_endpoints drop column signature, drop column template`.execute(db);
}
