import type { Context } from 'koa';
import type { z } from 'zod';
import { fieldProblems } from '../validation.js';
import { ApiError } from '../problem.js';
import { readAtMost } from './request-body.js';
import { unstorableJson } from '../safe-input.js';

const MAX_JSON_BYTES = 1024 * 1024;

/** Reads a JSON request body: at most 1 MiB, nested at most MAX_JSON_DEPTH deep, no NUL in any string. */
export async function readJsonBody(ctx: Context): Promise<unknown> {
  if (!ctx.is('application/json')) {
    throw new ApiError(415, 'unsupported_media_type', 'send a JSON body with Content-Type: application/json');
  }
  const bytes = await readAtMost(ctx.req, MAX_JSON_BYTES);
  if (!bytes) throw new ApiError(413, 'body_too_large', `the JSON body is larger than ${MAX_JSON_BYTES} bytes`);
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ApiError(400, 'invalid_json', 'the body is not valid JSON');
  }
  const unstorable = unstorableJson(body);
  if (unstorable) throw new ApiError(400, 'invalid_body', unstorable);
  return body;
}

/** Whether the request carries a body at all (a POST action may take an optional one). */
export function hasBody(ctx: Context): boolean {
  const length = ctx.get('content-length');
  return ctx.get('transfer-encoding') !== '' || (length !== '' && length !== '0');
}

/** A JSON body when one was sent, else undefined. */
export async function readOptionalJsonBody(ctx: Context): Promise<unknown> {
  return hasBody(ctx) ? readJsonBody(ctx) : undefined;
}

/** A JSON body checked against its schema: 400 `invalid_body` naming each field's problem. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const problems = fieldProblems(parsed.error, 'field');
  throw new ApiError(400, 'invalid_body', problems.map((p) => (p.field ? `${p.field}: ${p.message}` : p.message)).join('; '), { errors: problems });
}
