/**
 * What one account may ask of Kiln. Rates bound requests per window (a generic cell rate
 * algorithm shared by every API process); quotas bound what the account holds or starts.
 * Each has a configured default (KILN_RATE_LIMIT_* and KILN_QUOTA_*), and the operator may
 * set an account's own through the admin API.
 */
export const RATE_POLICIES = ['work', 'webhooks'] as const;
export type RatePolicy = (typeof RATE_POLICIES)[number];

export const QUOTAS = ['conversions_active', 'conversions_per_day', 'stored_bytes', 'endpoints', 'job_files'] as const;
export type Quota = (typeof QUOTAS)[number];

/** The name of an account's own limit: a rate policy's requests per window, or a quota. */
export type LimitName = `rate_${RatePolicy}` | Quota;

export const LIMIT_NAMES: readonly LimitName[] = [...RATE_POLICIES.map((policy) => `rate_${policy}` as const), ...QUOTAS];

/** An account's own limits: a number, or null for none; an absent name follows the default. */
export type AccountLimits = Partial<Record<LimitName, number | null>>;
