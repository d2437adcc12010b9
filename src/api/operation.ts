import type { Context } from 'koa';
import { z } from 'zod';
import type { IdPrefix } from '../ids.js';
import type { RatePolicy } from '../model/limits.js';

/**
 * One operation of the API: its contract (path, parameters, body, answers, the problem
 * codes it may answer) beside the handler that serves it. Each route module exports the
 * operations it serves; the router (./router.ts) and the OpenAPI document
 * (./contract/openapi.ts) are both built from the same lists, so neither can drift from
 * the other.
 */

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/**
 * Who may call it:
 * - `api_key`: an account's key, checked before the handler runs;
 * - `admin`: the admin token (KILN_ADMIN_TOKEN), checked before the handler runs;
 * - `api_key_or_link`: a key, or a signed link's `expires` and `signature` in its place (the handler checks);
 * - `link`: a signed link only (downloads; the handler checks);
 * - `none`: anyone (health, the document).
 */
export type Auth = 'api_key' | 'admin' | 'api_key_or_link' | 'link' | 'none';

/** A link from an answer to another operation: where a created id can be read (OpenAPI `links`). */
export interface Link {
  operationId: string;
  /** Parameter name → runtime expression, e.g. `{ id: '$response.body#/id' }`. */
  parameters: Record<string, string>;
  description: string;
}

/** An answer that is not a problem: a success, or an answer such as 204 with no body. */
export interface Answer {
  description: string;
  /** Media type → schema of the body; absent: no body. */
  content?: Record<string, z.ZodType>;
  /** Header → its description (all strings). */
  headers?: Record<string, string>;
  links?: Record<string, Link>;
}

export interface RequestBody {
  /** Whether the operation needs one; an optional body may be left out entirely. */
  required: boolean;
  description?: string;
  /** Media type → schema. */
  content: Record<string, z.ZodType>;
}

export interface Operation {
  /** Stable: generated clients name their functions after it. */
  operationId: string;
  method: Method;
  /** OpenAPI's form, `{name}` for a parameter. */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  auth: Auth;
  /** The rate policy its requests count against, once authenticated: every answer carries the RateLimit headers, and past it 429 `rate_limited`. */
  rateLimit?: RatePolicy;
  /** Starts conversions: under the account's quotas (429 `quota_exceeded`), and refused with 503 `overloaded` while the deployment's backlog is past its bound. */
  createsWork?: true;
  /** Takes an Idempotency-Key (and answers its problems). */
  idempotent?: boolean;
  params?: z.ZodObject;
  query?: z.ZodObject;
  /** Request headers besides Idempotency-Key, each `z.string().meta({ param: … })`. */
  headers?: z.ZodType[];
  body?: RequestBody;
  /** By status: every answer that is not a problem (at least one 2xx). */
  answers: Record<number, Answer>;
  /** Problem codes by status, beyond those every operation of its kind answers (credentials, Idempotency-Key, JSON body, method). */
  problems?: Record<number, readonly string[]>;
  handler: (ctx: Context) => Promise<void> | void;
}

/** Declares an operation (the identity: it only gives the literal its type). */
export function operation(op: Operation): Operation {
  return op;
}

/** A path id parameter shaped as Kiln makes ids of this kind. */
export function idParam(prefix: IdPrefix, what: string) {
  return z.object({
    id: z
      .string()
      .regex(new RegExp(`^${prefix}_[0-9a-z]{23}$`))
      .describe(`The ${what} (${prefix}_…)`),
  });
}

/** The query of every list: `limit` and `cursor`. */
export const pageQuery = {
  limit: z.number().int().min(1).max(100).optional().describe('Items per page, 1–100 (default 20)'),
  cursor: z
    .string()
    .regex(/^[a-z]{2,3}_[0-9a-z]{23}$/)
    .optional()
    .describe('The next_cursor of the previous page'),
};

/** A date-time parameter as the API takes it (ISO 8601 with a zone). */
export const isoDateTime = z.iso.datetime({ offset: true, message: 'an ISO-8601 date-time with its zone, e.g. 2026-12-07T09:00:00Z' });

/** The time-range filter of a list: created at or after, and before. */
export const createdRangeQuery = {
  created_after: isoDateTime.optional().describe('Only those created at or after this time'),
  created_before: isoDateTime.optional().describe('Only those created before this time'),
};

/** A JSON body. */
export function jsonBody(schema: z.ZodType, required = true, description?: string): RequestBody {
  return { required, ...(description ? { description } : {}), content: { 'application/json': schema } };
}

/** A JSON answer. */
export function jsonAnswer(description: string, schema: z.ZodType, extra: Omit<Answer, 'description' | 'content'> = {}): Answer {
  return { description, content: { 'application/json': schema }, ...extra };
}

/**
 * Bytes, as a body or an answer: a file (OpenAPI 3.1's contentMediaType, and 3.0's `format:
 * binary` that generators still read). A file sent is never empty (400 empty_file).
 */
export function binary(description: string, mediaType = 'application/octet-stream') {
  return z.string().min(1).meta({ format: 'binary', contentMediaType: mediaType, description });
}

/**
 * Links from an answer to the operations on what it names, each taking `parameter` from the
 * answer's body at `field` (the created object's `id`, unless told).
 */
export function linksTo(operationIds: readonly string[], what: string, { parameter = 'id', field = 'id' } = {}): Record<string, Link> {
  return Object.fromEntries(
    operationIds.map((operationId) => [
      operationId,
      { operationId, parameters: { [parameter]: `$response.body#/${field}` }, description: `On the ${what} it names` },
    ]),
  );
}
