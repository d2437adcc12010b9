import { sql, type Kysely } from 'kysely';
import { randomBytes } from 'node:crypto';

// Frozen in time: this migration imports nothing from the application, so later changes to
// how secrets are made cannot change what it did. (The format: Standard Webhooks' whsec_.)
const newSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`;

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('accounts')
    .addColumn('webhook_secret', 'text')
    .addColumn('previous_webhook_secret', 'text')
    .addColumn('previous_webhook_secret_expires_at', 'timestamptz')
    .execute();
  // Accounts created before webhooks existed get their secret here, once.
  const accounts: Array<{ id: string }> = await db.selectFrom('accounts').select('id').execute();
  for (const { id } of accounts) {
    await db.updateTable('accounts').set({ webhook_secret: newSecret() }).where('id', '=', id).execute();
  }
  await db.schema
    .alterTable('accounts')
    .alterColumn('webhook_secret', (c) => c.setNotNull())
    .execute();

  await db.schema.alterTable('conversions').addColumn('webhook_url', 'text').addColumn('webhook_metadata', 'jsonb').addColumn('tag', 'text').execute();

  await db.schema
    .createTable('webhook_endpoints')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('event_types', 'jsonb', (c) => c.notNull())
    .addColumn('tags', 'jsonb', (c) => c.notNull())
    .addColumn('retry_schedule', 'jsonb')
    .addColumn('enabled', 'boolean', (c) => c.notNull())
    .addColumn('disabled_reason', 'text')
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('previous_secret', 'text')
    .addColumn('previous_secret_expires_at', 'timestamptz')
    .addColumn('failing_since', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('webhook_endpoints_account_idx').on('webhook_endpoints').columns(['account_id', 'id']).execute();

  await db.schema
    .createTable('deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('event_id', 'text', (c) => c.notNull().references('events.id').onDelete('cascade'))
    .addColumn('event_type', 'text', (c) => c.notNull())
    // No foreign key: the log of an endpoint's deliveries outlives the endpoint.
    .addColumn('endpoint_id', 'text')
    .addColumn('target', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('workflow_id', 'text', (c) => c.notNull().unique())
    .addColumn('retry_schedule', 'jsonb', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempt_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_status_code', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('next_attempt_at', 'timestamptz')
    .addColumn('dispatched_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('completed_at', 'timestamptz')
    .addUniqueConstraint('deliveries_event_target_unique', ['event_id', 'target'])
    .addCheckConstraint('deliveries_status_check', sql`status in ('pending','succeeded','failed','cancelled')`)
    .execute();
  await db.schema.createIndex('deliveries_account_idx').on('deliveries').columns(['account_id', 'id']).execute();
  await db.schema.createIndex('deliveries_endpoint_idx').on('deliveries').columns(['endpoint_id', 'id']).execute();
  await db.schema.createIndex('deliveries_undispatched_idx').on('deliveries').column('created_at').where(sql.ref('dispatched_at'), 'is', null).execute();

  await db.schema
    .createTable('delivery_attempts')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('delivery_id', 'text', (c) => c.notNull().references('deliveries.id').onDelete('cascade'))
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('scheduled_at', 'timestamptz', (c) => c.notNull())
    .addColumn('started_at', 'timestamptz', (c) => c.notNull())
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addColumn('status_code', 'integer')
    .addColumn('response_body_preview', 'text')
    .addColumn('error_class', 'text')
    .addColumn('error_message', 'text')
    .addUniqueConstraint('delivery_attempts_number_unique', ['delivery_id', 'attempt'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['delivery_attempts', 'deliveries', 'webhook_endpoints']) {
    await db.schema.dropTable(table).ifExists().execute();
  }
  await db.schema.alterTable('conversions').dropColumn('webhook_url').dropColumn('webhook_metadata').dropColumn('tag').execute();
  await db.schema
    .alterTable('accounts')
    .dropColumn('webhook_secret')
    .dropColumn('previous_webhook_secret')
    .dropColumn('previous_webhook_secret_expires_at')
    .execute();
}
