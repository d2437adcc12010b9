import { sql, type Kysely } from 'kysely';
import { idFloor } from '../ids.js';
import type { Database } from './schema.js';

/** An account's recent work at a glance: what the dashboard's overview charts. */
export interface AccountOverview {
  conversionsByStatus: Record<string, number>;
  conversionsByFormat: Record<string, number>;
  /** The commonest failure codes, most frequent first (at most 10). */
  failureCodes: Array<{ code: string; count: number }>;
  /** From upload to completion, over the conversions that succeeded; null with none. */
  completionMs: { p50: number; p95: number; count: number } | null;
  deliveriesByStatus: Record<string, number>;
  /** Endpoints whose attempts have all failed since a time, now. */
  failingEndpoints: Array<{ id: string; url: string; failingSince: Date; enabled: boolean }>;
}

const byKey = (rows: Array<{ key: string | null; n: string | number }>): Record<string, number> =>
  Object.fromEntries(rows.map((row) => [row.key ?? 'unknown', Number(row.n)]));

/**
 * The account's conversions and deliveries created since `since` (ids sort by creation, so
 * each count reads the account's own index range), and its endpoints failing now.
 */
export async function accountOverview(db: Kysely<Database>, accountId: string, since: Date): Promise<AccountOverview> {
  const conversions = db.selectFrom('conversions').where('account_id', '=', accountId).where('id', '>=', idFloor('cnv', since.getTime()));
  const format = sql<string>`options->>'output_format'`;
  const [statuses, formats, codes, latency, deliveries, failing] = await Promise.all([
    conversions
      .select(['status as key', (eb) => eb.fn.countAll<string>().as('n')])
      .groupBy('status')
      .execute(),
    conversions
      .select([format.as('key'), (eb) => eb.fn.countAll<string>().as('n')])
      .groupBy(format)
      .execute(),
    conversions
      .where('status', '=', 'failed')
      .select(['error_code as key', (eb) => eb.fn.countAll<string>().as('n')])
      .groupBy('error_code')
      .orderBy('n', 'desc')
      .orderBy('error_code')
      .limit(10)
      .execute(),
    conversions
      .where('status', '=', 'succeeded')
      .where('completed_at', 'is not', null)
      .select([
        sql<number | null>`percentile_cont(0.5) within group (order by extract(epoch from completed_at - created_at) * 1000)`.as('p50'),
        sql<number | null>`percentile_cont(0.95) within group (order by extract(epoch from completed_at - created_at) * 1000)`.as('p95'),
        (eb) => eb.fn.countAll<string>().as('n'),
      ])
      .executeTakeFirstOrThrow(),
    db
      .selectFrom('deliveries')
      .where('account_id', '=', accountId)
      .where('id', '>=', idFloor('dlv', since.getTime()))
      .select(['status as key', (eb) => eb.fn.countAll<string>().as('n')])
      .groupBy('status')
      .execute(),
    db
      .selectFrom('webhook_endpoints')
      .where('account_id', '=', accountId)
      .where('failing_since', 'is not', null)
      .select(['id', 'url', 'failing_since', 'enabled'])
      .orderBy('failing_since')
      .limit(100)
      .execute(),
  ]);
  const succeeded = Number(latency.n);
  return {
    conversionsByStatus: byKey(statuses),
    conversionsByFormat: byKey(formats),
    failureCodes: codes.map((row) => ({ code: row.key ?? 'unknown', count: Number(row.n) })),
    completionMs: succeeded === 0 ? null : { p50: Math.round(Number(latency.p50)), p95: Math.round(Number(latency.p95)), count: succeeded },
    deliveriesByStatus: byKey(deliveries),
    failingEndpoints: failing.map((row) => ({ id: row.id, url: row.url, failingSince: row.failing_since!, enabled: row.enabled })),
  };
}
