import { z } from 'zod';
import { AccountExistsError, createAccountWithKey } from '../../db/accounts.js';
import type { ApiDependencies } from '../context.js';
import * as s from '../contract/schemas.js';
import { parseBody, readJsonBody } from '../json-body.js';
import { idParam, jsonAnswer, jsonBody, operation, type Operation } from '../operation.js';
import { pathId } from '../params.js';
import { findAccountLimits, setAccountLimits } from '../../db/usage.js';
import { jobFilesQuota, quotaLimit } from '../../limits/quotas.js';
import { rateFor } from '../../limits/rates.js';
import { QUOTAS, RATE_POLICIES, type AccountLimits, type LimitName } from '../../model/limits.js';
import { ApiError } from '../../problem.js';

const accountBody = z
  .object({
    name: z.string().trim().min(1, 'name must not be empty').max(100, 'name must be at most 100 characters').describe('Unique among accounts'),
  })
  .strict();

const accountParam = idParam('acc', 'account');

/** Each limit as it applies to an account with `own` limits. */
function effectiveLimits(deps: ApiDependencies, own: AccountLimits): Record<LimitName, number | null> {
  const quotas = Object.fromEntries(
    QUOTAS.map((quota) => [quota, quota === 'job_files' ? jobFilesQuota(deps.config, own) : quotaLimit(deps.config, own, quota)]),
  );
  const rates = Object.fromEntries(RATE_POLICIES.map((policy) => [`rate_${policy}`, rateFor(deps.config, own, policy)?.requests ?? null]));
  return { ...rates, ...quotas } as Record<LimitName, number | null>;
}

const accountNotFound = (id: string) => new ApiError(404, 'account_not_found', `no account ${id}`);

function presentLimits(deps: ApiDependencies, accountId: string, own: AccountLimits) {
  return { object: 'account_limits', account_id: accountId, own, effective: effectiveLimits(deps, own) };
}

/** What the holder of the admin token may do: make accounts, set their limits. */
export function adminOperations(deps: ApiDependencies): Operation[] {
  return [
    operation({
      operationId: 'createAccount',
      method: 'post',
      path: '/v1/admin/accounts',
      summary: 'Create an account and its first API key',
      tag: 'Admin',
      auth: 'admin',
      body: jsonBody(accountBody),
      answers: { 201: jsonAnswer('The account, its first key (shown once) and its webhook secret', s.AccountCreated) },
      problems: { 409: ['account_exists'], 503: ['admin_disabled'] },
      handler: async (ctx) => {
        const { name } = parseBody(accountBody, await readJsonBody(ctx));
        try {
          const { account, apiKey } = await createAccountWithKey(deps.db, name);
          ctx.status = 201;
          ctx.body = {
            id: account.id,
            object: 'account',
            name: account.name,
            created_at: account.created_at.toISOString(),
            api_key: { id: apiKey.id, name: apiKey.name, key: apiKey.key, prefix: apiKey.prefix },
            // Signs deliveries to per-request webhook_url targets; also at GET /v1/webhooks/secret.
            webhook_secret: account.webhook_secret,
          };
        } catch (error) {
          if (error instanceof AccountExistsError) throw new ApiError(409, 'account_exists', error.message);
          throw error;
        }
      },
    }),
    operation({
      operationId: 'getAccountLimits',
      method: 'get',
      path: '/v1/admin/accounts/{id}/limits',
      summary: 'Read an account’s own limits and those that apply',
      tag: 'Admin',
      auth: 'admin',
      params: accountParam,
      answers: { 200: jsonAnswer('The account’s own limits and the effective ones', s.AccountLimitsAnswer) },
      problems: { 404: ['account_not_found'], 503: ['admin_disabled'] },
      handler: async (ctx) => {
        const id = pathId(ctx, 'acc', accountNotFound);
        const own = await findAccountLimits(deps.db, id);
        if (!own) throw accountNotFound(id);
        ctx.body = presentLimits(deps, id, own);
      },
    }),
    operation({
      operationId: 'setAccountLimits',
      method: 'put',
      path: '/v1/admin/accounts/{id}/limits',
      summary: 'Set an account’s own limits',
      description:
        'Replaces them all: a limit left out follows the configured default (KILN_RATE_LIMIT_*, KILN_QUOTA_*), `null` lifts it. Applies to the next request; nothing already accepted is undone.',
      tag: 'Admin',
      auth: 'admin',
      params: accountParam,
      body: jsonBody(s.AccountLimits),
      answers: { 200: jsonAnswer('The account’s own limits and the effective ones', s.AccountLimitsAnswer) },
      problems: { 404: ['account_not_found'], 503: ['admin_disabled'] },
      handler: async (ctx) => {
        const id = pathId(ctx, 'acc', accountNotFound);
        const limits = parseBody(s.AccountLimits, await readJsonBody(ctx)) as AccountLimits;
        const own = await setAccountLimits(deps.db, id, limits);
        if (!own) throw accountNotFound(id);
        ctx.body = presentLimits(deps, id, own);
      },
    }),
  ];
}
