import { createHash } from 'node:crypto';
import type { Context } from 'koa';
import { claimIdempotencyKey, completeIdempotencyKey, findIdempotencyKey, releaseIdempotencyKey } from '../db/idempotency-keys.js';
import type { IdempotencyKey } from '../db/schema.js';
import { accountOf } from './auth.js';
import { hasBody, readJsonBody } from './json-body.js';
import type { ApiDependencies } from './context.js';
import { ApiError } from '../problem.js';
import { REQUEST_TIMEOUT_MS } from './request-timeout.js';

/**
 * Idempotency-Key with Stripe's semantics, for every POST that creates or triggers something:
 * - the same key and the same request (method, path, body) from the same account, while the
 *   key lives, answers the first response again (status, Location and body, byte for byte)
 *   and runs nothing;
 * - the same key with another request answers 422 idempotency_key_reused;
 * - a second request while the first still runs answers 409 idempotency_key_in_flight;
 * - a request that fails (any error) leaves nothing behind, so the key can be used again.
 */

const KEY_PATTERN = /^[\x20-\x7e]{1,255}$/;
const HEADER = 'idempotency-key';

/** A digest of what makes two requests "the same": pass the parts in a fixed order. */
export function requestFingerprint(...parts: string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(`${Buffer.byteLength(part)}:${part};`);
  return hash.digest('hex');
}

/** The fingerprint of a JSON body as parsed: whitespace does not make a request different. */
function jsonFingerprint(body: unknown): string {
  return requestFingerprint(JSON.stringify(body) ?? '');
}

/** Whether the request sent an Idempotency-Key (valid or not: `idempotent` judges it). */
export function hasIdempotencyKey(ctx: Context): boolean {
  return ctx.headers[HEADER] !== undefined;
}

/**
 * Runs `handle` under the request's Idempotency-Key, if it sent one. `bodyFingerprint`
 * stands for the body (already read and checked by the route); method and path are added here.
 */
export async function idempotent(ctx: Context, deps: ApiDependencies, bodyFingerprint: string, handle: () => Promise<void>): Promise<void> {
  if (ctx.headers[HEADER] === undefined) return handle();
  const key = ctx.get(HEADER);
  if (!KEY_PATTERN.test(key)) {
    throw new ApiError(400, 'invalid_idempotency_key', 'Idempotency-Key must be 1–255 printable ASCII characters', { header: 'Idempotency-Key' });
  }
  const accountId = accountOf(ctx).id;
  const fingerprint = requestFingerprint(ctx.method, ctx.path, bodyFingerprint);
  const claim = { accountId, key, fingerprint, ttlSeconds: deps.config.idempotencyTtlSeconds, abandonAfterSeconds: REQUEST_TIMEOUT_MS / 1000 + 60 };
  // Twice: the key's owner may give it up (it failed) between our claim and our look at it.
  for (let tries = 0; !(await claimIdempotencyKey(deps.db, claim)); tries++) {
    const stored = await findIdempotencyKey(deps.db, accountId, key);
    if (stored) return replay(ctx, stored, fingerprint);
    if (tries > 0) throw inFlight();
  }

  try {
    await handle();
  } catch (error) {
    await releaseIdempotencyKey(deps.db, accountId, key);
    throw error;
  }
  // Serialised here rather than by Koa, so what is stored is exactly what is sent.
  const body = JSON.stringify(ctx.body);
  const type = 'application/json; charset=utf-8';
  const location = ctx.response.get('Location') || null;
  await completeIdempotencyKey(deps.db, accountId, key, { status: ctx.status, type, location, body });
  ctx.type = type;
  ctx.body = body;
}

function inFlight(): ApiError {
  return new ApiError(409, 'idempotency_key_in_flight', 'a request with this Idempotency-Key is still running; retry once it has answered');
}

function replay(ctx: Context, stored: IdempotencyKey, fingerprint: string): void {
  if (stored.fingerprint !== fingerprint) {
    throw new ApiError(422, 'idempotency_key_reused', 'this Idempotency-Key was used with a different request; use a new key for a new request');
  }
  if (stored.state !== 'done' || stored.response_status === null || stored.response_body === null) throw inFlight();
  ctx.status = stored.response_status;
  if (stored.response_location) ctx.set('Location', stored.response_location);
  ctx.set('Idempotent-Replayed', 'true');
  ctx.type = stored.response_type ?? 'application/json; charset=utf-8';
  ctx.body = stored.response_body;
}

type Handler<Args extends unknown[]> = (ctx: Context, ...args: Args) => Promise<void>;

/** A POST route with a JSON body, run under Idempotency-Key; the handler gets the body read and checked once. */
export function idempotentJson(deps: ApiDependencies, handler: Handler<[body: unknown]>): (ctx: Context) => Promise<void> {
  return async (ctx) => {
    const body = await readJsonBody(ctx);
    await idempotent(ctx, deps, jsonFingerprint(body), () => handler(ctx, body));
  };
}

/** A POST route that takes no body (its path says everything), run under Idempotency-Key. */
export function idempotentAction(deps: ApiDependencies, handler: Handler<[]>): (ctx: Context) => Promise<void> {
  return (ctx) => idempotent(ctx, deps, '', () => handler(ctx));
}

/** A POST action whose JSON body is optional, run under Idempotency-Key; the handler gets the body, or undefined when none was sent. */
export function idempotentOptionalJson(deps: ApiDependencies, handler: Handler<[body: unknown]>): (ctx: Context) => Promise<void> {
  const withBody = idempotentJson(deps, handler);
  const withoutBody = idempotentAction(deps, (ctx) => handler(ctx, undefined));
  return (ctx) => (hasBody(ctx) ? withBody(ctx) : withoutBody(ctx));
}
