import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { Registry } from 'prom-client';
import type { KilnMetrics } from '../../metrics.js';
import { processMetrics } from '../../process-metrics.js';

/** Prometheus's text format at `/metrics` (behind the admin token: it speaks of every account's work). */
export function metricsRoutes(metrics: KilnMetrics): Router {
  const router = new Router();
  // Merged at the first scrape: the metrics all exist by then, and a router listed without serving never builds it.
  let registry: Registry | undefined;
  router.get('/metrics', async (ctx) => {
    registry ??= Registry.merge([metrics.registry, processMetrics]);
    ctx.type = registry.contentType;
    ctx.body = await registry.metrics();
  });
  return router;
}

/** Counts and times every request by its route pattern (never its raw path: ids would make a series each). */
export function metricsMiddleware(metrics: KilnMetrics) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const stop = metrics.httpDuration.startTimer();
    try {
      await next();
    } finally {
      const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      stop({ method: ctx.method, route });
      metrics.httpRequests.inc({ method: ctx.method, route, status: String(ctx.status) });
    }
  };
}
