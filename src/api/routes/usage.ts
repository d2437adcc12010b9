import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import * as s from '../contract/schemas.js';
import { jsonAnswer, operation, type Operation } from '../operation.js';
import { quotaUsage } from '../../limits/quotas.js';
import { peekRate, rateFor } from '../../limits/rates.js';
import { RATE_POLICIES } from '../../model/limits.js';

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
        const account = accountOf(ctx);
        const quotas = await quotaUsage(deps.db, deps.config, account.id);
        const rates = await Promise.all(
          RATE_POLICIES.map(async (policy) => {
            const rate = rateFor(deps.config, account.limits, policy);
            if (!rate) return [policy, null] as const;
            const left = await peekRate(deps.db, account.id, policy, rate);
            return [policy, { limit: left.limit, window_seconds: left.windowSeconds, remaining: left.remaining, reset_seconds: left.resetSeconds }] as const;
          }),
        );
        ctx.body = {
          object: 'usage',
          quotas: Object.fromEntries(quotas.map((q) => [q.quota, { used: q.used, limit: q.limit, resets_at: q.resetsAt?.toISOString() ?? null }])),
          rates: Object.fromEntries(rates),
        };
      },
    }),
  ];
}
