import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration imports nothing from the application.
// Deliveries whose first attempt is made in the worker process never get a workflow when
// that attempt ends them, so "never dispatched" alone no longer means "stranded": the
// reconciler's index keeps only pending rows, and finished ones leave it.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop index deliveries_undispatched_idx`.execute(db);
  await sql`create index deliveries_unattended_idx on deliveries (created_at) where dispatched_at is null and status = 'pending'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index deliveries_unattended_idx`.execute(db);
  await sql`create index deliveries_undispatched_idx on deliveries (created_at) where dispatched_at is null`.execute(db);
}
