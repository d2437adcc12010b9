import { timingSafeEqual, createHash } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Kysely } from 'kysely';
import { apiKeyHolder } from '../db/api-keys.js';
import type { Account, Database } from '../db/schema.js';
import { ApiError } from '../problem.js';

export interface AuthState {
  account: Account;
}

/** The account of the API key that authenticated this request (set by requireApiKey). */
export function accountOf(ctx: Context): Account {
  return (ctx.state as AuthState).account;
}

function bearerToken(ctx: Context): string {
  const header = ctx.get('authorization');
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) {
    throw new ApiError(401, 'unauthorized', 'send your API key as "Authorization: Bearer <key>"');
  }
  return match[1];
}

export function requireApiKey(db: Kysely<Database>) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const account = await apiKeyHolder(db, bearerToken(ctx));
    if (account === 'expired') throw new ApiError(401, 'api_key_expired', 'the API key has expired (a sign-in link’s session ends by itself): sign in again');
    if (!account) throw new ApiError(401, 'invalid_api_key', 'the API key is unknown or has been revoked');
    (ctx.state as AuthState).account = account;
    await next();
  };
}

function sameSecret(a: string, b: string): boolean {
  // Hashing first gives equal-length buffers, so the comparison leaks neither content nor length.
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

export function requireAdminToken(adminToken: string | undefined) {
  return async (ctx: Context, next: Next): Promise<void> => {
    if (!adminToken) throw new ApiError(503, 'admin_disabled', 'admin routes are off: set KILN_ADMIN_TOKEN to enable them');
    if (!sameSecret(bearerToken(ctx), adminToken)) throw new ApiError(401, 'invalid_admin_token', 'the admin token is wrong');
    await next();
  };
}
