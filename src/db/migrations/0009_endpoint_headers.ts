import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration imports nothing from the application.
// Headers an endpoint's owner asks Kiln to send with every delivery to it (an API token the
// receiver's gateway wants, say), beside Kiln's own.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table webhook_endpoints add column headers jsonb not null default '{}'::jsonb`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table webhook_endpoints drop column headers`.execute(db);
}
