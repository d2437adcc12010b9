import Router from '@koa/router';
import { rotateAccountSecret } from '../../db/webhook-endpoints.js';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import { idempotentOptionalJson } from '../idempotency.js';
import { broughtSecretOf } from '../webhook-fields.js';
import { liveUntil } from './webhook-endpoints.js';

/** The account's own signing secret: it signs deliveries to per-conversion webhook_url targets. */
export function webhookSecretRoutes(deps: ApiDependencies): Router {
  const { db, config } = deps;
  const router = new Router();

  router.get('/v1/webhooks/secret', (ctx) => {
    const account = accountOf(ctx);
    ctx.body = { secret: account.webhook_secret, previous_secret_expires_at: liveUntil(account.previous_webhook_secret_expires_at) };
  });

  router.post(
    '/v1/webhooks/secret/rotate',
    idempotentOptionalJson(deps, async (ctx, body) => {
      const account = await rotateAccountSecret(db, accountOf(ctx).id, config.webhookSecretOverlapSeconds, broughtSecretOf(body));
      ctx.body = { secret: account.webhook_secret, previous_secret_expires_at: liveUntil(account.previous_webhook_secret_expires_at) };
    }),
  );

  return router;
}
