import type { Context, Next } from 'koa';
import { randomBytes } from 'node:crypto';
import { logTo, type LogFunction, type Logger } from '../log.js';

/** A caller's own id is kept when it is short and plain, so its logs and Kiln's line up. */
const CALLER_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives each request an id (the caller's `X-Request-Id`, or a new `req_…`), answers it in
 * `X-Request-Id`, logs one line per request when it ends, and keeps a logger carrying the
 * id for whatever the request's code reports (`requestLog`).
 */
export function requestLogMiddleware(logger: Logger) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const given = ctx.get('X-Request-Id');
    const requestId = CALLER_REQUEST_ID.test(given) ? given : `req_${randomBytes(10).toString('hex')}`;
    const requestLogger = logger.child({ request_id: requestId });
    ctx.state.logger = requestLogger;
    ctx.set('X-Request-Id', requestId);
    const startedAt = performance.now();
    try {
      await next();
    } finally {
      requestLogger.info(
        { method: ctx.method, path: ctx.path, status: ctx.status, duration_ms: Math.round(performance.now() - startedAt), account_id: accountIdOf(ctx) },
        'request',
      );
    }
  };
}

function accountIdOf(ctx: Context): string | undefined {
  const account = (ctx.state as { account?: { id?: unknown } }).account;
  return typeof account?.id === 'string' ? account.id : undefined;
}

/** The request's logger as a `(message, error?)` function, or `fallback` outside a request. */
export function requestLog(ctx: Context | undefined, fallback: LogFunction): LogFunction {
  const requestLogger = (ctx?.state as { logger?: Logger } | undefined)?.logger;
  return requestLogger ? logTo(requestLogger) : fallback;
}
