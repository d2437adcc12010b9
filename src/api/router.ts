import http from 'node:http';
import Router from '@koa/router';
import type { Middleware } from 'koa';
import { requireAdminToken, requireApiKey } from './auth.js';
import type { ApiDependencies } from './context.js';
import type { Operation } from './operation.js';

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
  for (const op of operations) {
    const guards: Middleware[] = op.auth === 'api_key' ? [apiKey] : op.auth === 'admin' ? [admin] : [];
    router.register(routerPath(op.path), [op.method.toUpperCase()], [...guards, op.handler], { name: op.operationId });
  }
  return router;
}
