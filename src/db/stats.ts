import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';

/** Counts of the work by state, across accounts, for the metrics a scrape reads (src/metrics.ts). */

export async function countConversionsByStatusAndFormat(db: Kysely<Database>): Promise<Array<{ labels: { status: string; format: string }; count: number }>> {
  const format = sql<string>`options->>'output_format'`;
  const rows = await db
    .selectFrom('conversions')
    .select(['status', format.as('format'), (eb) => eb.fn.countAll<string>().as('n')])
    .groupBy(['status', format])
    .execute();
  return rows.map((row) => ({ labels: { status: row.status, format: row.format }, count: Number(row.n) }));
}

/** Rows of `table` by status. */
export async function countByStatus(db: Kysely<Database>, table: 'jobs' | 'deliveries'): Promise<Array<{ labels: { status: string }; count: number }>> {
  const rows = await db
    .selectFrom(table)
    .select(['status', (eb) => eb.fn.countAll<string>().as('n')])
    .groupBy('status')
    .execute();
  return rows.map((row) => ({ labels: { status: row.status }, count: Number(row.n) }));
}
