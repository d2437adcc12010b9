import Koa, { type Middleware } from 'koa';
import Router from '@koa/router';
import { requireAdminToken, requireApiKey } from './auth.js';
import type { ApiDependencies } from './context.js';
import { problemMiddleware } from './problem.js';
import { requestLog, requestLogMiddleware } from './request-log.js';
import { metricsMiddleware, metricsRoutes } from './routes/metrics.js';
import { adminRoutes } from './routes/admin.js';
import { apiKeyRoutes } from './routes/api-keys.js';
import { conversionRoutes, conversionStreamRoutes, downloadRoutes } from './routes/conversions.js';
import { healthRoutes } from './routes/health.js';
import { jobLinkRoutes, jobRoutes } from './routes/jobs.js';
import { docsRoutes } from './routes/docs.js';
import { eventRoutes } from './routes/events.js';
import { eventTypeRoutes } from './routes/event-types.js';
import { webhookDeliveryRoutes } from './routes/webhook-deliveries.js';
import { webhookEndpointRoutes } from './routes/webhook-endpoints.js';
import { requestWebhookRoutes } from './routes/request-webhooks.js';
import { presetRoutes } from './routes/presets.js';
import { assetRoutes } from './routes/assets.js';

/** Mounts `routes` behind `guard`; the guard runs only for requests one of the routes matches. */
function guarded(guard: Middleware, routes: Router): Router {
  const outer = new Router();
  outer.use(guard as never);
  outer.use(routes.routes(), routes.allowedMethods());
  return outer;
}

export function createApp(deps: ApiDependencies): Koa {
  const app = new Koa();
  // Koa reports here what happens after a response is under way, such as a client that
  // dropped its connection mid-body; that is the client's business, not an error of Kiln's.
  app.on('error', (error: NodeJS.ErrnoException, ctx?: Koa.Context) => {
    const clientGone =
      ctx?.req.destroyed || error.code === 'ECONNRESET' || error.code === 'EPIPE' || error.code?.startsWith('HPE_') || error.message === 'aborted';
    if (!clientGone) requestLog(ctx, deps.log)(`${ctx?.method ?? ''} ${ctx?.path ?? ''} failed after responding`, error);
  });
  app.use(requestLogMiddleware(deps.logger));
  if (deps.metrics) app.use(metricsMiddleware(deps.metrics));
  app.use(problemMiddleware(deps.log));
  for (const router of apiRouters(deps)) app.use(router.routes()).use(router.allowedMethods());
  return app;
}

/** Every router of the API, each behind the credential it needs. */
export function apiRouters(deps: ApiDependencies): Router[] {
  return [
    healthRoutes(deps),
    docsRoutes(deps),
    downloadRoutes(deps),
    jobLinkRoutes(deps),
    conversionStreamRoutes(deps),
    guarded(requireAdminToken(deps.config.adminToken), adminRoutes(deps)),
    ...(deps.metrics ? [guarded(requireAdminToken(deps.config.adminToken), metricsRoutes(deps.metrics))] : []),
    guarded(requireApiKey(deps.db), conversionRoutes(deps)),
    guarded(requireApiKey(deps.db), jobRoutes(deps)),
    guarded(requireApiKey(deps.db), presetRoutes(deps)),
    guarded(requireApiKey(deps.db), assetRoutes(deps)),
    guarded(requireApiKey(deps.db), eventTypeRoutes()),
    guarded(requireApiKey(deps.db), requestWebhookRoutes(deps)),
    guarded(requireApiKey(deps.db), webhookEndpointRoutes(deps)),
    guarded(requireApiKey(deps.db), webhookDeliveryRoutes(deps)),
    guarded(requireApiKey(deps.db), eventRoutes(deps)),
    guarded(requireApiKey(deps.db), apiKeyRoutes(deps)),
  ];
}
