import http from 'node:http';
import Router from '@koa/router';
import type { Middleware } from 'koa';
import { accountOf, requireAdminToken, requireApiKey } from './auth.js';
import { Backpressure } from '../limits/backpressure.js';
import { rateFor, rateLimitHeaders, takeRate } from '../limits/rates.js';
import type { RatePolicy } from '../model/limits.js';
import { ApiError } from '../problem.js';
import { limitRefusals } from '../process-metrics.js';
import type { ApiDependencies } from './context.js';
import type { Operation } from './operation.js';

/**
 * Counts the request against the account's `policy` (after its key is checked), answering
 * the RateLimit headers whatever follows, and 429 `rate_limited` past the limit.
 */
function rateLimited(deps: Pick<ApiDependencies, 'db' | 'config'>, policy: RatePolicy): Middleware {
  return async (ctx, next) => {
    const account = accountOf(ctx);
    const rate = rateFor(deps.config, account.limits, policy);
    if (rate) {
      const decision = await takeRate(deps.db, account.id, policy, rate);
      ctx.set(rateLimitHeaders(decision));
      if (!decision.allowed) {
        limitRefusals.inc({ reason: 'rate_limited', limit: policy });
        throw new ApiError(
          429,
          'rate_limited',
          `the account's "${policy}" rate is ${rate.requests} requests per ${rate.windowSeconds} s; try again in ${decision.retryAfterSeconds} s`,
          { policy, limit: rate.requests, window_seconds: rate.windowSeconds },
          { 'Retry-After': String(decision.retryAfterSeconds) },
        );
      }
    }
    await next();
  };
}

/** `/v1/jobs/{id}` as Koa's router writes it: `/v1/jobs/:id`. */
export function routerPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}

/**
 * The router serving `operations`, each behind the credential its `auth` names (checked
 * only for a request that operation matches). A method a known path does not serve is
 * answered 405 with `Allow`, whatever the method: the router is told every method Node
 * parses, so none falls through to 501.
 */
export function routerFor(operations: readonly Operation[], deps: Pick<ApiDependencies, 'db' | 'config'>): Router {
  const router = new Router({ methods: http.METHODS });
  const apiKey = requireApiKey(deps.db);
  const admin = requireAdminToken(deps.config.adminToken);
  const backpressure = new Backpressure(deps.db, deps.config);
  const admitWork: Middleware = async (_ctx, next) => {
    await backpressure.admit();
    await next();
  };
  for (const op of operations) {
    const guards: Middleware[] = op.auth === 'api_key' ? [apiKey] : op.auth === 'admin' ? [admin] : [];
    if (op.rateLimit) guards.push(rateLimited(deps, op.rateLimit));
    if (op.createsWork) guards.push(admitWork);
    router.register(routerPath(op.path), [op.method.toUpperCase()], [...guards, op.handler], { name: op.operationId });
  }
  return router;
}
