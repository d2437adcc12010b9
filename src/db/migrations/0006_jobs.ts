import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration imports nothing from the application.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('jobs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('workflow_id', 'text', (c) => c.notNull().unique())
    .addColumn('total', 'integer', (c) => c.notNull())
    .addColumn('options', 'jsonb', (c) => c.notNull())
    .addColumn('concurrency', 'integer', (c) => c.notNull())
    .addColumn('files_running', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('files_succeeded', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('files_failed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('files_cancelled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('webhook_url', 'text')
    .addColumn('webhook_metadata', 'jsonb')
    .addColumn('tag', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('started_at', 'timestamptz')
    .addColumn('completed_at', 'timestamptz')
    .addCheckConstraint('jobs_status_check', sql`status in ('queued','running','succeeded','failed','cancelled')`)
    .execute();
  await db.schema.createIndex('jobs_account_idx').on('jobs').columns(['account_id', 'id']).execute();
  await db.schema
    .alterTable('conversions')
    .addColumn('job_id', 'text', (c) => c.references('jobs.id').onDelete('cascade'))
    .execute();
  await db.schema.alterTable('conversions').addColumn('job_index', 'integer').execute();
  await sql`create index conversions_job_idx on conversions (job_id, job_index) where job_id is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index conversions_job_idx`.execute(db);
  await db.schema.alterTable('conversions').dropColumn('job_index').execute();
  await db.schema.alterTable('conversions').dropColumn('job_id').execute();
  await db.schema.dropTable('jobs').execute();
}
