import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration imports nothing from the application.
// When the retention schedule removed a conversion's original, its outputs, an event's payload.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table conversions add column input_purged_at timestamptz, add column output_purged_at timestamptz`.execute(db);
  await sql`alter table events add column payload_purged_at timestamptz`.execute(db);
  // What the schedule looks for: finished conversions by age, events and attempts by age.
  await sql`create index conversions_completed_at on conversions (completed_at) where completed_at is not null`.execute(db);
  await sql`create index events_created_at on events (created_at) where payload_purged_at is null`.execute(db);
  await sql`create index delivery_attempts_started_at on delivery_attempts (started_at) where response_body_preview is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index delivery_attempts_started_at`.execute(db);
  await sql`drop index events_created_at`.execute(db);
  await sql`drop index conversions_completed_at`.execute(db);
  await sql`alter table events drop column payload_purged_at`.execute(db);
  await sql`alter table conversions drop column input_purged_at, drop column output_purged_at`.execute(db);
}
