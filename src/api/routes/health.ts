import type { Context } from 'koa';
import { pingDatabase } from '../../db/database.js';
import type { ApiDependencies } from '../context.js';
import * as s from '../contract/schemas.js';
import { jsonAnswer, operation, type Operation } from '../operation.js';

/** Runs a probe of a part Kiln depends on, for at most 3 s: ok, or what went wrong. */
export async function check(probe: () => Promise<unknown>): Promise<{ ok: boolean; error?: string }> {
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
export function healthOperations(deps: ApiDependencies): Operation[] {
  const ready = async (ctx: Context): Promise<void> => {
    const [postgres, temporal] = await Promise.all([
      check(() => pingDatabase(deps.db)),
      check(() => deps.temporal.connection.workflowService.getSystemInfo({})),
    ]);
    const ok = postgres.ok && temporal.ok;
    ctx.status = ok ? 200 : 503;
    ctx.body = { status: ok ? 'ok' : 'degraded', postgres, temporal };
  };
  const readiness = { 200: jsonAnswer('Ready', s.Health), 503: jsonAnswer('Not ready: what does not answer', s.Health) };
  return [
    operation({
      operationId: 'getLiveness',
      method: 'get',
      path: '/livez',
      summary: 'Liveness: the process answers (restart it when this fails)',
      tag: 'Health',
      auth: 'none',
      answers: { 200: jsonAnswer('The process is alive', s.Liveness) },
      handler: (ctx) => {
        ctx.body = { status: 'ok' };
      },
    }),
    operation({
      operationId: 'getReadiness',
      method: 'get',
      path: '/readyz',
      summary: 'Readiness: Postgres and Temporal both answer (send traffic only when this succeeds)',
      tag: 'Health',
      auth: 'none',
      answers: readiness,
      handler: ready,
    }),
    operation({
      operationId: 'getHealth',
      method: 'get',
      path: '/healthz',
      summary: 'Health of Kiln, Postgres and Temporal (the same as /readyz)',
      tag: 'Health',
      auth: 'none',
      answers: readiness,
      handler: ready,
    }),
  ];
}
