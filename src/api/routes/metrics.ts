import { z } from 'zod';
import { operation, type Operation } from '../operation.js';
import type { Context, Next } from 'koa';
import { Registry } from 'prom-client';
import type { KilnMetrics } from '../../metrics.js';
import { processMetrics } from '../../process-metrics.js';

/** Prometheus's text format at `/metrics` (behind the admin token: it speaks of every account's work). */
export function metricsOperations(metrics: KilnMetrics): Operation[] {
  // Merged at the first scrape: the metrics all exist by then, and an operation listed without serving never builds it.
  let registry: Registry | undefined;
  return [
    operation({
      operationId: 'getMetrics',
      method: 'get',
      path: '/metrics',
      summary: "Prometheus metrics of this process: requests, image work, webhook attempts, and every account's conversions, jobs and deliveries by status",
      tag: 'Operations',
      auth: 'admin',
      answers: { 200: { description: "Prometheus's text exposition format", content: { 'text/plain': z.string() } } },
      problems: { 503: ['admin_disabled'] },
      handler: async (ctx) => {
        registry ??= Registry.merge([metrics.registry, processMetrics]);
        ctx.type = registry.contentType;
        ctx.body = await registry.metrics();
      },
    }),
  ];
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
