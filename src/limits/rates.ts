import type { Kysely } from 'kysely';
import type { KilnConfig, Rate } from '../config.js';
import { readRateToken, takeRateToken } from '../db/rate-limits.js';
import type { Database } from '../db/schema.js';
import type { AccountLimits, RatePolicy } from '../model/limits.js';

/** A rate decision, in the terms of the IETF RateLimit headers. */
export interface RateDecision {
  policy: RatePolicy;
  allowed: boolean;
  /** Requests per window. */
  limit: number;
  windowSeconds: number;
  /** Requests that would pass now, after this one. */
  remaining: number;
  /** Seconds until the whole allowance is back. */
  resetSeconds: number;
  /** Refused: seconds until one request passes again. */
  retryAfterSeconds: number;
}

/** The rate an account has under `policy`: its own, else the configured one; null for none. */
export function rateFor(config: KilnConfig, limits: AccountLimits, policy: RatePolicy): Rate | null {
  const configured = policy === 'work' ? config.rateLimitWork : config.rateLimitWebhooks;
  const own = limits[`rate_${policy}`];
  if (own === undefined) return configured;
  if (own === null) return null;
  return { requests: own, windowSeconds: configured?.windowSeconds ?? 60 };
}

/**
 * Takes one request from the account's allowance under `policy`. Each request moves the
 * key's theoretical arrival time on by window/limit; a request passes while that time stays
 * within the window. The database decides in one statement with its own clock, so the count
 * is exact however many API processes share it.
 */
export async function takeRate(db: Kysely<Database>, accountId: string, policy: RatePolicy, rate: Rate): Promise<RateDecision> {
  const windowMs = rate.windowSeconds * 1000;
  const intervalMs = windowMs / rate.requests;
  const taken = await takeRateToken(db, rateKey(policy, accountId), intervalMs, windowMs);
  return decision(policy, rate, taken.allowed, taken.tat, taken.now);
}

/** What is left of the account's allowance under `policy`, taking nothing. */
export async function peekRate(db: Kysely<Database>, accountId: string, policy: RatePolicy, rate: Rate): Promise<RateDecision> {
  const held = await readRateToken(db, rateKey(policy, accountId));
  return decision(policy, rate, true, held.tat ?? held.now, held.now);
}

function rateKey(policy: RatePolicy, accountId: string): string {
  return `${policy}:${accountId}`;
}

function decision(policy: RatePolicy, rate: Rate, allowed: boolean, tat: Date, now: Date): RateDecision {
  const windowMs = rate.windowSeconds * 1000;
  const intervalMs = windowMs / rate.requests;
  const ahead = Math.max(0, tat.getTime() - now.getTime());
  return {
    policy,
    allowed,
    limit: rate.requests,
    windowSeconds: rate.windowSeconds,
    remaining: Math.max(0, Math.floor((windowMs - ahead) / intervalMs + 1e-9)),
    resetSeconds: Math.max(0, Math.ceil(ahead / 1000)),
    retryAfterSeconds: Math.max(1, Math.ceil((ahead - windowMs + intervalMs) / 1000)),
  };
}

/** The IETF RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers) of a decision. */
export function rateLimitHeaders(decision: RateDecision): Record<string, string> {
  const name = `"${decision.policy}"`;
  return {
    'RateLimit-Policy': `${name};q=${decision.limit};w=${decision.windowSeconds}`,
    RateLimit: `${name};r=${decision.remaining};t=${decision.resetSeconds}`,
  };
}
