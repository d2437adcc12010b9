import { z } from 'zod';
import { AccountExistsError, createAccountWithKey } from '../../db/accounts.js';
import type { ApiDependencies } from '../context.js';
import * as s from '../contract/schemas.js';
import { parseBody, readJsonBody } from '../json-body.js';
import { jsonAnswer, jsonBody, operation, type Operation } from '../operation.js';
import { ApiError } from '../../problem.js';

const accountBody = z
  .object({
    name: z.string().trim().min(1, 'name must not be empty').max(100, 'name must be at most 100 characters').describe('Unique among accounts'),
  })
  .strict();

/** What the holder of the admin token may do: make accounts. */
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
  ];
}
