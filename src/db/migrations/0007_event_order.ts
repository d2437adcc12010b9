import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration imports nothing from the application.
// Event streams (Server-Sent Events) replay an object's events in the order they were
// stored and resume after the last one a client saw. Event ids sort by millisecond only
// (events stored together share one), so each event gets a sequence number as it is
// inserted: rows of one insert in the order given, and later inserts after them.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table events add column seq bigint generated always as identity`.execute(db);
  await sql`create index events_subject_seq_idx on events (subject_id, seq)`.execute(db);
  await sql`drop index events_subject_idx`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create index events_subject_idx on events (subject_id)`.execute(db);
  await sql`drop index events_subject_seq_idx`.execute(db);
  await sql`alter table events drop column seq`.execute(db);
}
