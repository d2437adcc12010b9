import type { z } from 'zod';
import type { Account } from '../../db/schema.js';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import * as s from '../contract/schemas.js';
import { jsonAnswer, operation, type Operation } from '../operation.js';
import { quotaUsage } from '../../limits/quotas.js';
import { peekRate, rateFor } from '../../limits/rates.js';
import { RATE_POLICIES } from '../../model/limits.js';

/** What the account uses of each quota and rate, as `GET /v1/usage` answers it. */
export async function accountUsage(deps: Pick<ApiDependencies, 'db' | 'config'>, account: Pick<Account, 'id' | 'limits'>): Promise<z.input<typeof s.Usage>> {
  const quotas = await quotaUsage(deps.db, deps.config, account.id);
  const rates = await Promise.all(
    RATE_POLICIES.map(async (policy) => {
      const rate = rateFor(deps.config, account.limits, policy);
      if (!rate) return [policy, null] as const;
      const left = await peekRate(deps.db, account.id, policy, rate);
      return [policy, { limit: left.limit, window_seconds: left.windowSeconds, remaining: left.remaining, reset_seconds: left.resetSeconds }] as const;
    }),
  );
  return {
    object: 'usage',
    quotas: Object.fromEntries(quotas.map((q) => [q.quota, { used: q.used, limit: q.limit, resets_at: q.resetsAt?.toISOString() ?? null }])),
    rates: Object.fromEntries(rates),
  };
}

/** What the account uses of its quotas and rates. */
export function usageOperations(deps: ApiDependencies): Operation[] {
  return [
    operation({
      operationId: 'getUsage',
      method: 'get',
      path: '/v1/usage',
      summary: 'The account’s use of each quota and rate limit',
      description: 'Counted as admission counts it: a request that would take a quota past its limit answers 429 `quota_exceeded`.',
      tag: 'Account',
      auth: 'api_key',
      answers: { 200: jsonAnswer('Each quota and rate, with its limit', s.Usage) },
      handler: async (ctx) => {
        ctx.body = await accountUsage(deps, accountOf(ctx));
      },
    }),
  ];
}
