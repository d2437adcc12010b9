import type { LogFunction } from '../log.js';
import { requestLog } from './request-log.js';
import type { Context, Next } from 'koa';
import { StorageFullError, StorageUnavailableError } from '../storage/blob-store.js';
import { ApiError } from '../problem.js';
import { storageRefusals } from '../process-metrics.js';
import { isTemporalUnavailable } from '../temporal/grpc-status.js';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  431: 'Request Header Fields Too Large',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  507: 'Insufficient Storage',
};

export function problemTitle(status: number): string {
  return TITLES[status] ?? 'Error';
}

/** The problem+json body of `error`. */
export function problemBody(error: ApiError): Record<string, unknown> {
  return { ...error.extra, type: 'about:blank', title: problemTitle(error.status), status: error.status, code: error.code, detail: error.detail };
}

/** What a client is told to wait when the blob store is away. */
const STORAGE_RETRY_AFTER_SECONDS = 30;
/** What a client is told to wait when the Temporal server does not answer: a restart takes seconds. */
const TEMPORAL_RETRY_AFTER_SECONDS = 10;
/** …and when it is full: space comes back when an operator (or the retention schedule) frees it. */
const STORAGE_FULL_RETRY_AFTER_SECONDS = 300;

function sendProblem(ctx: Context, error: ApiError): void {
  ctx.status = error.status;
  for (const [name, value] of Object.entries(error.headers)) ctx.set(name, value);
  ctx.type = 'application/problem+json';
  ctx.body = problemBody(error);
}

/** Turns every thrown error into a problem response; anything unexpected is logged and answered 500. */
export function problemMiddleware(log: LogFunction) {
  return async (ctx: Context, next: Next): Promise<void> => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new ApiError(404, 'not_found', `no route for ${ctx.method} ${ctx.path}`);
      }
      // The router answers these in plain text; every error Kiln gives is a problem.
      if (ctx.status === 405) {
        throw new ApiError(405, 'method_not_allowed', `${ctx.method} is not allowed on ${ctx.path}; allowed: ${ctx.response.get('Allow')}`);
      }
    } catch (error) {
      if (error instanceof ApiError) return sendProblem(ctx, error);
      if (error instanceof StorageFullError) {
        requestLog(ctx, log)(`${ctx.method} ${ctx.path}: storage is out of space`, error);
        storageRefusals.inc({ reason: 'full' });
        ctx.set('Retry-After', String(STORAGE_FULL_RETRY_AFTER_SECONDS));
        return sendProblem(ctx, new ApiError(507, 'insufficient_storage', 'Kiln is out of storage space; nothing was accepted, try again later'));
      }
      if (error instanceof StorageUnavailableError) {
        requestLog(ctx, log)(`${ctx.method} ${ctx.path}: blob storage is away`, error);
        storageRefusals.inc({ reason: 'away' });
        ctx.set('Retry-After', String(STORAGE_RETRY_AFTER_SECONDS));
        return sendProblem(ctx, new ApiError(503, 'storage_unavailable', 'file storage is not answering; nothing was accepted, try again shortly'));
      }
      if (isTemporalUnavailable(error)) {
        requestLog(ctx, log)(`${ctx.method} ${ctx.path}: the Temporal server did not answer`, error);
        ctx.set('Retry-After', String(TEMPORAL_RETRY_AFTER_SECONDS));
        return sendProblem(ctx, new ApiError(503, 'temporal_unavailable', 'the Temporal server did not answer; try again shortly'));
      }
      const status = (error as { status?: number; expose?: boolean }).status;
      if (typeof status === 'number' && status >= 400 && status < 500) {
        return sendProblem(ctx, new ApiError(status, 'bad_request', (error as Error).message));
      }
      requestLog(ctx, log)(`${ctx.method} ${ctx.path} failed`, error);
      sendProblem(ctx, new ApiError(500, 'internal_error', 'Kiln hit an unexpected error; it has been logged'));
    }
  };
}
