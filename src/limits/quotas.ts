import type { Kysely, Transaction } from 'kysely';
import type { KilnConfig } from '../config.js';
import type { Database } from '../db/schema.js';
import { countActiveConversions, countConversionsFrom, countEndpoints, lockAccountLimits, readAccountLimits, storedBytes } from '../db/usage.js';
import { idFloor } from '../ids.js';
import { QUOTAS, type AccountLimits, type Quota } from '../model/limits.js';
import { ApiError } from '../problem.js';
import { limitRefusals } from '../process-metrics.js';

const DAY_MS = 86_400_000;

/** A quota's default, from configuration; null: none. */
function configuredQuota(config: KilnConfig, quota: Quota): number | null {
  switch (quota) {
    case 'conversions_active':
      return config.quotaConversionsActive;
    case 'conversions_per_day':
      return config.quotaConversionsPerDay;
    case 'stored_bytes':
      return config.quotaStoredBytes;
    case 'endpoints':
      return config.quotaEndpoints;
    case 'job_files':
      return config.maxJobFiles;
  }
}

/** The account's limit of `quota`: its own, else the configured one; null for none. */
export function quotaLimit(config: KilnConfig, limits: AccountLimits, quota: Quota): number | null {
  const own = limits[quota];
  return own === undefined ? configuredQuota(config, quota) : own;
}

/** When a quota's count starts again: the next UTC midnight for the daily one; null for the others, which free as work ends or is deleted. */
function quotaResetsAt(quota: Quota, now: number): Date | null {
  return quota === 'conversions_per_day' ? new Date(Math.floor(now / DAY_MS) * DAY_MS + DAY_MS) : null;
}

function exceeded(quota: Quota, limit: number, used: number, now: number, what: string): ApiError {
  const resetsAt = quotaResetsAt(quota, now);
  limitRefusals.inc({ reason: 'quota_exceeded', limit: quota });
  return new ApiError(
    429,
    'quota_exceeded',
    `${what}: the account's ${quota} quota is ${limit} and ${used} are used${resetsAt ? `; it resets at ${resetsAt.toISOString()}` : ''}`,
    { quota, limit, used, resets_at: resetsAt?.toISOString() ?? null },
    resetsAt ? { 'Retry-After': String(Math.ceil((resetsAt.getTime() - now) / 1000)) } : {},
  );
}

/** What a request adds to the account: conversions started, bytes stored. */
export interface Addition {
  conversions: number;
  bytes: number;
}

/**
 * Admits `addition` under the account's quotas, inside the transaction that stores it: the
 * account's row is locked first, so concurrent requests of one account (through any API
 * process) are counted one after another and a quota is never overrun. Throws 429
 * `quota_exceeded` naming the first quota it would pass.
 */
export async function admitConversions(trx: Transaction<Database>, config: KilnConfig, accountId: string, addition: Addition): Promise<void> {
  const limits = await lockAccountLimits(trx, accountId);
  const now = Date.now();
  const what = `${addition.conversions} more conversion${addition.conversions === 1 ? '' : 's'}`;
  const active = quotaLimit(config, limits, 'conversions_active');
  if (active !== null) {
    const used = await countActiveConversions(trx, accountId);
    if (used + addition.conversions > active) throw exceeded('conversions_active', active, used, now, what);
  }
  const perDay = quotaLimit(config, limits, 'conversions_per_day');
  if (perDay !== null) {
    const used = await countConversionsFrom(trx, accountId, idFloor('cnv', Math.floor(now / DAY_MS) * DAY_MS));
    if (used + addition.conversions > perDay) throw exceeded('conversions_per_day', perDay, used, now, what);
  }
  const stored = quotaLimit(config, limits, 'stored_bytes');
  if (stored !== null && addition.bytes > 0) {
    const used = await storedBytes(trx, accountId);
    if (used + addition.bytes > stored) throw exceeded('stored_bytes', stored, used, now, `${addition.bytes} more bytes`);
  }
}

/** Admits one more endpoint (the account's row locked, as for conversions). */
export async function admitEndpoint(trx: Transaction<Database>, config: KilnConfig, accountId: string): Promise<void> {
  const limit = quotaLimit(config, await lockAccountLimits(trx, accountId), 'endpoints');
  if (limit === null) return;
  const used = await countEndpoints(trx, accountId);
  if (used + 1 > limit) throw exceeded('endpoints', limit, used, Date.now(), 'one more endpoint');
}

/** Files one job may have under `limits`: an account's own quota may lower KILN_MAX_JOB_FILES, which bounds what the API reads. */
export function jobFilesQuota(config: KilnConfig, limits: AccountLimits): number {
  return Math.min(quotaLimit(config, limits, 'job_files') ?? config.maxJobFiles, config.maxJobFiles);
}

/** Files one job of the account may have. */
export async function jobFilesLimit(db: Kysely<Database>, config: KilnConfig, accountId: string): Promise<number> {
  return jobFilesQuota(config, await readAccountLimits(db, accountId));
}

export interface QuotaUsage {
  quota: Quota;
  /** For job_files, the largest job the account may send (nothing is "used"): null. */
  used: number | null;
  limit: number | null;
  resetsAt: Date | null;
}

/** The account's use of each quota, counted as admission counts it. */
export async function quotaUsage(db: Kysely<Database>, config: KilnConfig, accountId: string): Promise<QuotaUsage[]> {
  const limits = await readAccountLimits(db, accountId);
  const now = Date.now();
  const [active, today, bytes, endpoints] = await Promise.all([
    countActiveConversions(db, accountId),
    countConversionsFrom(db, accountId, idFloor('cnv', Math.floor(now / DAY_MS) * DAY_MS)),
    storedBytes(db, accountId),
    countEndpoints(db, accountId),
  ]);
  const used: Record<Quota, number | null> = {
    conversions_active: active,
    conversions_per_day: today,
    stored_bytes: bytes,
    endpoints,
    job_files: null,
  };
  return QUOTAS.map((quota) => ({ quota, used: used[quota], limit: quotaLimit(config, limits, quota), resetsAt: quotaResetsAt(quota, now) }));
}
