import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration imports nothing from the application.
// Rate limits as a generic cell rate algorithm: each key keeps its theoretical arrival time,
// moved on by one atomic upsert per request, so any number of API processes share it.
// Each account may carry its own limits, over the configured defaults.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('rate_limits')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('tat', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema
    .alterTable('accounts')
    .addColumn('limits', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();
  // Backpressure reads how fast conversions were finished lately; quotas count an account's work in flight.
  await db.schema.createIndex('conversions_completed_idx').on('conversions').column('completed_at').execute();
  await db.schema
    .createIndex('conversions_active_idx')
    .on('conversions')
    .column('account_id')
    .where(sql.ref('status'), 'in', sql`('queued', 'running')`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('conversions_active_idx').execute();
  await db.schema.dropIndex('conversions_completed_idx').execute();
  await db.schema.alterTable('accounts').dropColumn('limits').execute();
  await db.schema.dropTable('rate_limits').execute();
}
