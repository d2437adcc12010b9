import type { Context } from 'koa';
import { z } from 'zod';
import * as s from '../contract/schemas.js';
import { idParam, jsonAnswer, jsonBody, linksTo, operation, pageQuery, type Operation } from '../operation.js';
import { issueApiKey, listApiKeys, revokeApiKey } from '../../db/api-keys.js';
import type { ApiKey } from '../../db/schema.js';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import { pageEnvelope, readPage } from '../pagination.js';
import { pathId } from '../params.js';
import { ApiError } from '../../problem.js';
import { NUL_FREE } from '../../safe-input.js';
import { readJsonBody, parseBody } from '../json-body.js';

export const apiKeyBody = z
  .object({
    name: z
      .string({ message: 'name is required' })
      .trim()
      .min(1, 'name must not be empty')
      .max(100, 'name must be at most 100 characters')
      .regex(NUL_FREE, 'name must not contain NUL'),
  })
  .strict();

export const apiKeyNotFound = (id: string): ApiError => new ApiError(404, 'api_key_not_found', `no API key ${id}`);

/** A key as lists show it: never the secret, which exists only in the answer that created it. */
export function presentApiKey(
  key: Pick<ApiKey, 'id' | 'name' | 'prefix' | 'created_at' | 'expires_at'> & { last_used_at?: Date | null },
): z.input<typeof s.ApiKey> {
  return {
    id: key.id,
    object: 'api_key',
    name: key.name,
    prefix: key.prefix,
    created_at: key.created_at.toISOString(),
    last_used_at: key.last_used_at?.toISOString() ?? null,
    expires_at: key.expires_at?.toISOString() ?? null,
  };
}

/**
 * Refuses an Idempotency-Key on a request whose answer holds a secret shown once: a replay
 * would need it stored in plain text for a day, and Kiln stores such secrets only hashed.
 */
export function refuseReplay(ctx: Context, what: string, instead: string): void {
  if (ctx.get('idempotency-key')) {
    throw new ApiError(
      400,
      'idempotency_not_supported',
      `${what} cannot be replayed: its secret is shown once and stored only as a hash. If the answer was lost, ${instead}`,
    );
  }
}

/** The account's own API keys: create (shown once), list, revoke. */
export function apiKeyOperations(deps: ApiDependencies): Operation[] {
  return [
    operation({
      operationId: 'listApiKeys',
      method: 'get',
      path: '/v1/api-keys',
      summary: "The account's live API keys",
      tag: 'API keys',
      auth: 'api_key',
      query: z.object(pageQuery),
      answers: { 200: jsonAnswer('A page of keys (never the keys themselves)', s.page(s.ApiKey, 'ApiKeyPage')) },
      problems: { 400: ['invalid_parameter'] },
      handler: async (ctx) => {
        const page = readPage(ctx.query);
        const rows = await listApiKeys(deps.db, accountOf(ctx).id, { ...page, limit: page.limit + 1 });
        ctx.body = pageEnvelope(rows, page.limit, presentApiKey);
      },
    }),
    operation({
      operationId: 'createApiKey',
      method: 'post',
      path: '/v1/api-keys',
      summary: 'Create an API key (shown once)',
      description: 'Not replayable by Idempotency-Key: the key exists in plain text only in this answer (400 idempotency_not_supported).',
      tag: 'API keys',
      auth: 'api_key',
      body: jsonBody(apiKeyBody),
      answers: {
        201: jsonAnswer('The key, with its secret this once', s.ApiKeyCreated, {
          headers: { Location: 'The key' },
          links: linksTo(['revokeApiKey'], 'API key'),
        }),
      },
      problems: { 400: ['idempotency_not_supported'] },
      handler: async (ctx) => {
        refuseReplay(ctx, 'creating an API key', 'revoke the key by its prefix and create another');
        const { name } = parseBody(apiKeyBody, await readJsonBody(ctx));
        const issued = await issueApiKey(deps.db, accountOf(ctx).id, name);
        ctx.status = 201;
        ctx.set('Location', `/v1/api-keys/${issued.id}`);
        ctx.body = { ...presentApiKey(issued), key: issued.key };
      },
    }),
    operation({
      operationId: 'revokeApiKey',
      method: 'delete',
      path: '/v1/api-keys/{id}',
      summary: 'Revoke an API key at once',
      tag: 'API keys',
      auth: 'api_key',
      params: idParam('key', 'API key'),
      answers: { 204: { description: 'Revoked' } },
      problems: { 404: ['api_key_not_found'] },
      handler: async (ctx) => {
        const id = pathId(ctx, 'key', apiKeyNotFound);
        if (!(await revokeApiKey(deps.db, accountOf(ctx).id, id))) throw apiKeyNotFound(id);
        ctx.status = 204;
      },
    }),
  ];
}
