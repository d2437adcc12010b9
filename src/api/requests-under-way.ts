import type { Context, Middleware } from 'koa';
import type { RequestsUnderWay } from '../requests-under-way.js';

const stopCounting = new WeakMap<Context, () => void>();

/** Counts each request as under way (src/requests-under-way.ts) from its arrival until its handler ends or it starts to wait. */
export function countRequestsUnderWay(requests: RequestsUnderWay): Middleware {
  return async (ctx, next) => {
    const end = requests.begin();
    stopCounting.set(ctx, end);
    try {
      await next();
    } finally {
      end();
    }
  };
}

/** The request now waits on work elsewhere (a conversion it holds its answer for): this process's background work need not give way to it meanwhile. */
export function waitingFromNow(ctx: Context): void {
  stopCounting.get(ctx)?.();
}
