import Koa from 'koa';
import type Router from '@koa/router';
import type { ApiDependencies } from './context.js';
import { openApiDocument } from './contract/openapi.js';
import type { Operation } from './operation.js';
import { problemMiddleware } from './problem.js';
import { discardUnreadBody } from './request-body.js';
import { requestLog, requestLogMiddleware } from './request-log.js';
import { countRequestsUnderWay } from './requests-under-way.js';
import { routerFor } from './router.js';
import { metricsMiddleware, metricsOperations } from './routes/metrics.js';
import { adminOperations } from './routes/admin.js';
import { apiKeyOperations } from './routes/api-keys.js';
import { usageOperations } from './routes/usage.js';
import { conversionOperations } from './routes/conversions.js';
import { healthOperations } from './routes/health.js';
import { jobOperations } from './routes/jobs.js';
import { addDocsPage, contractOperations } from './routes/docs.js';
import { addDashboard } from './routes/dashboard.js';
import { eventOperations } from './routes/events.js';
import { eventTypeOperations } from './routes/event-types.js';
import { signInLinkOperations } from './routes/sign-in-links.js';
import { webhookDeliveryOperations } from './routes/webhook-deliveries.js';
import { webhookEndpointOperations } from './routes/webhook-endpoints.js';
import { requestWebhookOperations } from './routes/request-webhooks.js';
import { presetOperations } from './routes/presets.js';
import { assetOperations } from './routes/assets.js';
import { overviewOperations } from './routes/overview.js';
import { KILN_VERSION } from '../version.js';

export function createApp(deps: ApiDependencies): Koa {
  const app = new Koa();
  // Koa reports here what happens after a response is under way, such as a client that
  // dropped its connection mid-body; that is the client's business, not an error of Kiln's.
  app.on('error', (error: NodeJS.ErrnoException, ctx?: Koa.Context) => {
    const clientGone =
      ctx?.req.destroyed || error.code === 'ECONNRESET' || error.code === 'EPIPE' || error.code?.startsWith('HPE_') || error.message === 'aborted';
    if (!clientGone) requestLog(ctx, deps.log)(`${ctx?.method ?? ''} ${ctx?.path ?? ''} failed after responding`, error);
  });
  if (deps.requests) app.use(countRequestsUnderWay(deps.requests));
  app.use(requestLogMiddleware(deps.logger));
  app.use(async (ctx, next) => {
    try {
      await next();
    } finally {
      // Answered before the end of its body (a refusal): the client still gets the answer.
      discardUnreadBody(ctx.req);
    }
  });
  // Every answer, user bytes above all (downloads, archives): a browser takes it as the type it is sent as, never sniffs another.
  app.use(async (ctx, next) => {
    ctx.set('X-Content-Type-Options', 'nosniff');
    await next();
  });
  if (deps.metrics) app.use(metricsMiddleware(deps.metrics));
  app.use(problemMiddleware(deps.log));
  for (const router of apiRouters(deps)) app.use(router.routes()).use(router.allowedMethods());
  return app;
}

/** Every operation of the API (each with its contract and handler), the document's own included. */
export function apiOperations(deps: ApiDependencies): Operation[] {
  const operations = [
    ...healthOperations(deps),
    ...adminOperations(deps),
    ...conversionOperations(deps),
    ...jobOperations(deps),
    ...presetOperations(deps),
    ...assetOperations(deps),
    ...eventTypeOperations(deps),
    ...signInLinkOperations(deps),
    ...requestWebhookOperations(deps),
    ...webhookEndpointOperations(deps),
    ...webhookDeliveryOperations(deps),
    ...eventOperations(deps),
    ...apiKeyOperations(deps),
    ...usageOperations(deps),
    ...overviewOperations(deps),
    ...(deps.metrics ? metricsOperations(deps.metrics) : []),
  ];
  operations.push(...contractOperations(() => openApiDocument(operations, KILN_VERSION)));
  return operations;
}

/**
 * The router of the API: its operations, and the reference page rendered from its document.
 * One router, so a method no route of a path serves is answered 405 by the router that
 * knows the path, never 501 by another.
 */
export function apiRouters(deps: ApiDependencies): Router[] {
  const router = routerFor(apiOperations(deps), deps);
  addDocsPage(router);
  addDashboard(router, deps.config);
  return [router];
}
