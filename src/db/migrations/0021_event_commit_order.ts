import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration imports nothing from the application.
// The transaction that stored each event, so an account-wide stream can read events in an
// order no later commit slips into: only events whose transactions are all over (below the
// snapshot's xmin) are read, by (xid, seq). Events stored before this all get this
// migration's transaction, and keep their seq order within it.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table events add column xid xid8 not null default pg_current_xact_id()`.execute(db);
  await sql`create index events_account_xid_idx on events (account_id, xid, seq)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index events_account_xid_idx`.execute(db);
  await sql`alter table events drop column xid`.execute(db);
}
