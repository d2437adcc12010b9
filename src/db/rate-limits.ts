import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface RateTake {
  allowed: boolean;
  /** The key's theoretical arrival time after this request (unchanged when refused). */
  tat: Date;
  /** The database's clock when it decided. */
  now: Date;
}

/**
 * Takes one request of `key`'s allowance under the generic cell rate algorithm: each request
 * moves the key's theoretical arrival time on by `intervalMs`, and is allowed while that time
 * stays within `windowMs` of now. One statement, atomic in the database, with its clock:
 * however many API processes take from one key at once, no more pass than the rate allows.
 */
export async function takeRateToken(db: Kysely<Database>, key: string, intervalMs: number, windowMs: number): Promise<RateTake> {
  const interval = sql`make_interval(secs => ${intervalMs / 1000}::double precision)`;
  const window = sql`make_interval(secs => ${windowMs / 1000}::double precision)`;
  const taken = await sql<{ tat: Date; now: Date }>`
    insert into rate_limits as r (key, tat) values (${key}, now() + ${interval})
    on conflict (key) do update set tat = greatest(r.tat, now()) + ${interval}
      where greatest(r.tat, now()) + ${interval} <= now() + ${window}
    returning tat, now() as now`.execute(db);
  const row = taken.rows[0];
  if (row) return { allowed: true, tat: new Date(row.tat), now: new Date(row.now) };
  const held = await sql<{ tat: Date; now: Date }>`select tat, now() as now from rate_limits where key = ${key}`.execute(db);
  const current = held.rows[0]!;
  return { allowed: false, tat: new Date(current.tat), now: new Date(current.now) };
}

/** Forgets keys whose allowance is whole again (their arrival time has passed). */
export async function forgetFullRateLimits(db: Kysely<Database>): Promise<number> {
  const result = await db
    .deleteFrom('rate_limits')
    .where('tat', '<', sql<Date>`now()`)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** The key's arrival time (null when its allowance is whole), without taking from it. */
export async function readRateToken(db: Kysely<Database>, key: string): Promise<{ tat: Date | null; now: Date }> {
  const result = await sql<{ tat: Date | null; now: Date }>`select (select tat from rate_limits where key = ${key}) as tat, now() as now`.execute(db);
  const row = result.rows[0]!;
  return { tat: row.tat === null ? null : new Date(row.tat), now: new Date(row.now) };
}

/**
 * Reserves the next turn of `key` at or after `notBefore` (now, when earlier), where turns
 * come `intervalMs` apart and at most `burstMs / intervalMs` fall within any `burstMs`: the
 * same cell rate algorithm, but a request over the rate is given a later turn instead of
 * refused. One statement, so turns given to concurrent callers never overlap.
 */
export async function reserveTurn(db: Kysely<Database>, key: string, intervalMs: number, burstMs: number, notBefore: Date): Promise<{ turn: Date; now: Date }> {
  const interval = sql`make_interval(secs => ${intervalMs / 1000}::double precision)`;
  const start = sql`greatest(now(), ${notBefore.toISOString()}::timestamptz)`;
  const reserved = await sql<{ tat: Date; start: Date; now: Date }>`
    insert into rate_limits as r (key, tat) values (${key}, ${start} + ${interval})
    on conflict (key) do update set tat = greatest(r.tat, ${start}) + ${interval}
    returning tat, ${start} as start, now() as now`.execute(db);
  const row = reserved.rows[0]!;
  const earliest = new Date(row.tat).getTime() - burstMs;
  return { turn: new Date(Math.max(new Date(row.start).getTime(), earliest)), now: new Date(row.now) };
}
