import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration imports nothing from the application.
// Each attempt keeps the request Kiln formed for it (headers and body, signed at the
// attempt's time), so the delivery log shows what a receiver was sent, not a re-rendering.
// Retention empties them with the response previews, so its index covers both.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table delivery_attempts add column request_headers jsonb, add column request_body text`.execute(db);
  await sql`drop index delivery_attempts_started_at`.execute(db);
  await sql`create index delivery_attempts_started_at on delivery_attempts (started_at)
    where response_body_preview is not null or request_body is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index delivery_attempts_started_at`.execute(db);
  await sql`create index delivery_attempts_started_at on delivery_attempts (started_at) where response_body_preview is not null`.execute(db);
  await sql`alter table delivery_attempts drop column request_headers, drop column request_body`.execute(db);
}
