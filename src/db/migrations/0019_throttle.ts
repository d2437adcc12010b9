import type { Kysely } from 'kysely';

// Frozen in time: this migration imports nothing from the application.
// A receiver's throttle: deliveries per second to an endpoint, or to each webhook_url of an
// account. A delivery made to wait for its turn says so in its row.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('webhook_endpoints').addColumn('rate_limit', 'integer').execute();
  await db.schema.alterTable('accounts').addColumn('webhook_rate_limit', 'integer').execute();
  await db.schema
    .alterTable('deliveries')
    .addColumn('throttled_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('throttled_until', 'timestamptz')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('deliveries').dropColumn('throttled_until').dropColumn('throttled_count').execute();
  await db.schema.alterTable('accounts').dropColumn('webhook_rate_limit').execute();
  await db.schema.alterTable('webhook_endpoints').dropColumn('rate_limit').execute();
}
