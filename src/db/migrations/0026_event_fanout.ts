import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration imports nothing from the application.
// An event whose deliveries are still to be planned holds how to plan them (who is meant to
// hear it); planning them clears it. Events with many targets are stored without their
// deliveries so that storing one costs the same for one endpoint as for hundreds.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table events add column fanout jsonb`.execute(db);
  await sql`create index events_fanout_owed on events (created_at) where fanout is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index events_fanout_owed`.execute(db);
  await sql`alter table events drop column fanout`.execute(db);
}
