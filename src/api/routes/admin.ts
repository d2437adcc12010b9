import { z } from 'zod';
import type { Context } from 'koa';
import { AccountExistsError, createAccountWithKey, findAccount } from '../../db/accounts.js';
import { issueApiKey, listApiKeys } from '../../db/api-keys.js';
import { pingDatabase } from '../../db/database.js';
import { listAccountSummaries, revokeAnyApiKey, workInFlight, type AccountSummary } from '../../db/operator.js';
import type { Account } from '../../db/schema.js';
import { describeTaskQueues, type TaskQueueState } from '../../temporal/task-queues.js';
import { pageEnvelope, readPage } from '../pagination.js';
import { apiKeyBody, apiKeyNotFound, presentApiKey, refuseReplay } from './api-keys.js';
import { accountUsage } from './usage.js';
import { check } from './health.js';
import type { ApiDependencies } from '../context.js';
import * as s from '../contract/schemas.js';
import { parseBody, readJsonBody } from '../json-body.js';
import { idParam, jsonAnswer, jsonBody, operation, pageQuery, type Operation } from '../operation.js';
import { pathId } from '../params.js';
import { findAccountLimits, setAccountLimits } from '../../db/usage.js';
import { jobFilesQuota, quotaLimit } from '../../limits/quotas.js';
import { rateFor } from '../../limits/rates.js';
import { QUOTAS, RATE_POLICIES, type AccountLimits, type LimitName } from '../../model/limits.js';
import { ApiError } from '../../problem.js';
import { NUL_FREE } from '../../safe-input.js';

const accountBody = z
  .object({
    name: z
      .string()
      .trim()
      .min(1, 'name must not be empty')
      .max(100, 'name must be at most 100 characters')
      .regex(NUL_FREE, 'name must not contain NUL')
      .describe('Unique among accounts'),
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

/** What the holder of the admin token may do: make and look after accounts, their keys and limits; see the deployment's state. */
export function adminOperations(deps: ApiDependencies): Operation[] {
  async function accountOr404(ctx: Context): Promise<Account> {
    const id = pathId(ctx, 'acc', accountNotFound);
    const account = await findAccount(deps.db, id);
    if (!account) throw accountNotFound(id);
    return account;
  }

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
    operation({
      operationId: 'listAccounts',
      method: 'get',
      path: '/v1/admin/accounts',
      summary: 'Every account, newest first, with what it has in flight',
      tag: 'Admin',
      auth: 'admin',
      query: z.object(pageQuery),
      answers: { 200: jsonAnswer('A page of accounts', s.page(s.AccountSummary, 'AccountSummaryPage')) },
      problems: { 400: ['invalid_parameter'], 503: ['admin_disabled'] },
      handler: async (ctx) => {
        const page = readPage(ctx.query);
        const rows = await listAccountSummaries(deps.db, { ...page, limit: page.limit + 1 });
        ctx.body = pageEnvelope(rows, page.limit, presentSummary);
      },
    }),
    operation({
      operationId: 'getAccount',
      method: 'get',
      path: '/v1/admin/accounts/{id}',
      summary: 'One account: its counts, usage and limits',
      tag: 'Admin',
      auth: 'admin',
      params: accountParam,
      answers: { 200: jsonAnswer('The account', s.AccountDetail) },
      problems: { 404: ['account_not_found'], 503: ['admin_disabled'] },
      handler: async (ctx) => {
        const account = await accountOr404(ctx);
        const [summary] = await listAccountSummaries(deps.db, { limit: 1, id: account.id });
        ctx.body = { ...presentSummary(summary!), usage: await accountUsage(deps, account), limits: presentLimits(deps, account.id, account.limits) };
      },
    }),
    operation({
      operationId: 'listAccountApiKeys',
      method: 'get',
      path: '/v1/admin/accounts/{id}/api-keys',
      summary: 'An account’s live API keys',
      tag: 'Admin',
      auth: 'admin',
      params: accountParam,
      query: z.object(pageQuery),
      answers: { 200: jsonAnswer('A page of keys (never the keys themselves)', s.page(s.ApiKey, 'AdminApiKeyPage')) },
      problems: { 400: ['invalid_parameter'], 404: ['account_not_found'], 503: ['admin_disabled'] },
      handler: async (ctx) => {
        const account = await accountOr404(ctx);
        const page = readPage(ctx.query);
        ctx.body = pageEnvelope(await listApiKeys(deps.db, account.id, { ...page, limit: page.limit + 1 }), page.limit, presentApiKey);
      },
    }),
    operation({
      operationId: 'createAccountApiKey',
      method: 'post',
      path: '/v1/admin/accounts/{id}/api-keys',
      summary: 'Give an account another API key (shown once)',
      tag: 'Admin',
      auth: 'admin',
      params: accountParam,
      body: jsonBody(apiKeyBody),
      answers: { 201: jsonAnswer('The key, with its secret this once', s.ApiKeyCreated) },
      problems: { 400: ['idempotency_not_supported'], 404: ['account_not_found'], 503: ['admin_disabled'] },
      handler: async (ctx) => {
        refuseReplay(ctx, 'creating an API key', 'revoke the key by its prefix and create another');
        const account = await accountOr404(ctx);
        const { name } = parseBody(apiKeyBody, await readJsonBody(ctx));
        const issued = await issueApiKey(deps.db, account.id, name);
        ctx.status = 201;
        ctx.body = { ...presentApiKey(issued), key: issued.key };
      },
    }),
    operation({
      operationId: 'revokeAnyApiKey',
      method: 'delete',
      path: '/v1/admin/api-keys/{id}',
      summary: 'Revoke any account’s API key at once',
      tag: 'Admin',
      auth: 'admin',
      params: idParam('key', 'API key'),
      answers: { 204: { description: 'Revoked' } },
      problems: { 404: ['api_key_not_found'], 503: ['admin_disabled'] },
      handler: async (ctx) => {
        const id = pathId(ctx, 'key', apiKeyNotFound);
        if (!(await revokeAnyApiKey(deps.db, id))) throw apiKeyNotFound(id);
        ctx.status = 204;
      },
    }),
    operation({
      operationId: 'getOperatorStatus',
      method: 'get',
      path: '/v1/admin/status',
      summary: 'Health of Postgres, Temporal and the workers; work in flight; queue depths',
      description:
        'Workers are seen through Temporal: each of Kiln’s task queues with the workers that polled it lately and the tasks waiting in it. Always 200: what does not answer says so in its part.',
      tag: 'Admin',
      auth: 'admin',
      answers: { 200: jsonAnswer('The deployment as this API process sees it', s.OperatorStatus) },
      problems: { 503: ['admin_disabled'] },
      handler: async (ctx) => {
        let queues: TaskQueueState[] | null = null;
        const [postgres, temporal] = await Promise.all([
          check(() => pingDatabase(deps.db)),
          check(async () => {
            queues = await describeTaskQueues(deps.temporal.connection, deps.config.temporalNamespace);
          }),
        ]);
        const publicUrl = deps.signer.publicUrl();
        ctx.body = {
          object: 'status',
          checked_at: new Date().toISOString(),
          postgres,
          temporal,
          task_queues: queues,
          work: postgres.ok ? await workInFlight(deps.db) : { conversions_queued: 0, conversions_running: 0, jobs_running: 0, deliveries_pending: 0 },
          links: { temporal_ui: deps.config.temporalUiUrl ?? null, temporal_namespace: deps.config.temporalNamespace, metrics: `${publicUrl}/metrics` },
        };
      },
    }),
  ];
}

function presentSummary(summary: AccountSummary): z.input<typeof s.AccountSummary> {
  return { ...summary, object: 'account', created_at: summary.created_at.toISOString() };
}
