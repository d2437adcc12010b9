import Router from '@koa/router';
import { z } from 'zod';
import { AccountExistsError, createAccountWithKey } from '../../db/accounts.js';
import type { ApiDependencies } from '../context.js';
import { ApiError } from '../../problem.js';
import { readJsonBody } from '../json-body.js';

export const accountBody = z.object({
  name: z.string().trim().min(1, 'name must not be empty').max(100, 'name must be at most 100 characters'),
});

export function adminRoutes(deps: ApiDependencies): Router {
  const router = new Router();
  router.post('/v1/admin/accounts', async (ctx) => {
    const parsed = accountBody.safeParse(await readJsonBody(ctx));
    if (!parsed.success) {
      throw new ApiError(400, 'invalid_body', parsed.error.issues.map((i) => i.message).join('; '));
    }
    try {
      const { account, apiKey } = await createAccountWithKey(deps.db, parsed.data.name);
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
  });
  return router;
}
