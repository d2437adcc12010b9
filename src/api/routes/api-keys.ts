import Router from '@koa/router';
import { z } from 'zod';
import type * as contract from '../contract/schemas.js';
import { issueApiKey, listApiKeys, revokeApiKey } from '../../db/api-keys.js';
import type { ApiKey } from '../../db/schema.js';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import { pageEnvelope, readPage } from '../pagination.js';
import { pathId } from '../params.js';
import { ApiError } from '../../problem.js';
import { readJsonBody, parseBody } from '../json-body.js';

export const apiKeyBody = z
  .object({ name: z.string({ message: 'name is required' }).trim().min(1, 'name must not be empty').max(100, 'name must be at most 100 characters') })
  .strict();

const apiKeyNotFound = (id: string): ApiError => new ApiError(404, 'api_key_not_found', `no API key ${id}`);

/** A key as lists show it: never the secret, which exists only in the answer that created it. */
function presentApiKey(key: Pick<ApiKey, 'id' | 'name' | 'prefix' | 'created_at'> & { last_used_at?: Date | null }): z.input<typeof contract.ApiKey> {
  return {
    id: key.id,
    object: 'api_key',
    name: key.name,
    prefix: key.prefix,
    created_at: key.created_at.toISOString(),
    last_used_at: key.last_used_at?.toISOString() ?? null,
  };
}

/** The account's own API keys: create (shown once), list, revoke. */
export function apiKeyRoutes(deps: ApiDependencies): Router {
  const router = new Router();

  router.get('/v1/api-keys', async (ctx) => {
    const page = readPage(ctx.query);
    const rows = await listApiKeys(deps.db, accountOf(ctx).id, { ...page, limit: page.limit + 1 });
    ctx.body = pageEnvelope(rows, page.limit, presentApiKey);
  });

  router.post('/v1/api-keys', async (ctx) => {
    // A replay would need the new key stored in plain text for a day; keys are only ever stored hashed.
    if (ctx.get('idempotency-key')) {
      throw new ApiError(
        400,
        'idempotency_not_supported',
        'creating an API key cannot be replayed: the key is shown once and stored only as a hash. If the answer was lost, revoke the key by its prefix and create another',
      );
    }
    const { name } = parseBody(apiKeyBody, await readJsonBody(ctx));
    const issued = await issueApiKey(deps.db, accountOf(ctx).id, name);
    ctx.status = 201;
    ctx.set('Location', `/v1/api-keys/${issued.id}`);
    ctx.body = { ...presentApiKey(issued), key: issued.key };
  });

  router.delete('/v1/api-keys/:id', async (ctx) => {
    const id = pathId(ctx, 'key', apiKeyNotFound);
    if (!(await revokeApiKey(deps.db, accountOf(ctx).id, id))) throw apiKeyNotFound(id);
    ctx.status = 204;
  });

  return router;
}
