import Router from '@koa/router';
import { rotateAccountSecret } from '../../db/webhook-endpoints.js';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import { idempotentAction } from '../idempotency.js';
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
    idempotentAction(deps, async (ctx) => {
      const account = await rotateAccountSecret(db, accountOf(ctx).id, config.webhookSecretOverlapSeconds);
      ctx.body = { secret: account.webhook_secret, previous_secret_expires_at: liveUntil(account.previous_webhook_secret_expires_at) };
    }),
  );

  return router;
}
