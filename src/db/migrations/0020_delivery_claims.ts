import type { Kysely } from 'kysely';

// Frozen in time: this migration imports nothing from the application.
// Who has a pending, workflow-less delivery in hand until when: a process that holds more
// of an account's deliveries than it keeps in memory takes them back in turns, and the
// reconcile schedule leaves a claimed delivery alone until the claim runs out.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('deliveries').addColumn('claimed_until', 'timestamptz').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('deliveries').dropColumn('claimed_until').execute();
}
