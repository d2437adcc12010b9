import Router from '@koa/router';
import { pingDatabase } from '../../db/database.js';
import type { ApiDependencies } from '../context.js';

async function check(probe: () => Promise<unknown>): Promise<{ ok: boolean; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('no answer within 3 s')), 3000);
  });
  try {
    await Promise.race([probe(), deadline]);
    return { ok: true };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `/livez`: the process answers (restart it if not). `/readyz` (and `/healthz`, its older
 * name): it can serve requests, its database and Temporal both answering (send it traffic).
 */
export function healthRoutes(deps: ApiDependencies): Router {
  const router = new Router();
  router.get('/livez', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get(['/readyz', '/healthz'], async (ctx) => {
    const [postgres, temporal] = await Promise.all([
      check(() => pingDatabase(deps.db)),
      check(() => deps.temporal.connection.workflowService.getSystemInfo({})),
    ]);
    const ok = postgres.ok && temporal.ok;
    ctx.status = ok ? 200 : 503;
    ctx.body = { status: ok ? 'ok' : 'degraded', postgres, temporal };
  });
  return router;
}
