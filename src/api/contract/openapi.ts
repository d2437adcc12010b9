import { OpenAPIRegistry, OpenApiGeneratorV31, type ResponseConfig, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { EVENT_CATALOG, EVENT_TYPES } from '../../model/event-catalog.js';
import type { Operation } from '../operation.js';
import * as s from './schemas.js';

/**
 * Kiln's OpenAPI 3.1 document, assembled from the operations the route modules declare
 * beside their handlers (see ../operation.ts) and from the event catalog (the `webhooks`
 * section). Every problem an operation may answer is the one `Problem` component; the
 * codes each status may carry are listed in its description and in `x-problem-codes`,
 * which tests check real answers against.
 */

/** Problems every operation of a kind may answer, beside its own. */
const CREDENTIAL_PROBLEMS = { api_key: ['unauthorized', 'invalid_api_key', 'api_key_expired'], admin: ['unauthorized', 'invalid_admin_token'] } as const;
const IDEMPOTENCY_PROBLEMS = { 400: ['invalid_idempotency_key'], 409: ['idempotency_key_in_flight'], 422: ['idempotency_key_reused'] };
const JSON_BODY_PROBLEMS = { 400: ['invalid_json', 'invalid_body'], 413: ['body_too_large'], 415: ['unsupported_media_type'] };
const ANY_REQUEST_PROBLEMS = { 405: ['method_not_allowed'], 431: ['headers_too_large'] };
const RATE_PROBLEMS = { 429: ['rate_limited'] };
const WORK_PROBLEMS = { 429: ['quota_exceeded'], 503: ['overloaded'] };

/** Headers of every answer of a rate-limited operation (draft-ietf-httpapi-ratelimit-headers). */
const RATE_LIMIT_HEADERS = {
  'RateLimit-Policy': 'The account\'s rate policy of this operation: `"<policy>";q=<requests>;w=<window seconds>`',
  RateLimit: 'What is left of it: `"<policy>";r=<requests remaining>;t=<seconds until the whole allowance is back>`',
};
/** Statuses whose problems tell the client when to try again. */
const RETRY_AFTER_STATUSES = new Set([429, 503, 507]);

/** The extension listing the problem codes of one answer. */
export const PROBLEM_CODES_EXTENSION = 'x-problem-codes';

function mergeProblems(...sets: Array<Readonly<Record<number, readonly string[]>> | undefined>): Record<number, string[]> {
  const merged: Record<number, string[]> = {};
  for (const set of sets)
    for (const [status, codes] of Object.entries(set ?? {})) merged[Number(status)] = [...new Set([...(merged[Number(status)] ?? []), ...codes])];
  return merged;
}

/** Every problem `op` may answer, by status. */
export function problemsOf(op: Operation): Record<number, string[]> {
  const credentials =
    op.auth === 'admin' ? CREDENTIAL_PROBLEMS.admin : op.auth === 'api_key' || op.auth === 'api_key_or_link' ? CREDENTIAL_PROBLEMS.api_key : [];
  return mergeProblems(
    op.problems,
    credentials.length ? { 401: credentials } : undefined,
    op.idempotent ? IDEMPOTENCY_PROBLEMS : undefined,
    op.body?.content['application/json'] ? JSON_BODY_PROBLEMS : undefined,
    op.rateLimit ? RATE_PROBLEMS : undefined,
    op.createsWork ? WORK_PROBLEMS : undefined,
    ANY_REQUEST_PROBLEMS,
  );
}

function headersOf(headers: Record<string, string>): Pick<ResponseConfig, 'headers'> {
  if (Object.keys(headers).length === 0) return {};
  return { headers: Object.fromEntries(Object.entries(headers).map(([name, description]) => [name, { description, schema: { type: 'string' as const } }])) };
}

function responses(op: Operation, problem: z.ZodType): RouteConfig['responses'] {
  const answers: Record<string, ResponseConfig> = {};
  for (const [status, answer] of Object.entries(op.answers)) {
    answers[status] = {
      description: answer.description,
      ...(answer.content ? { content: Object.fromEntries(Object.entries(answer.content).map(([type, schema]) => [type, { schema }])) } : {}),
      ...headersOf({ ...answer.headers, ...(op.rateLimit ? RATE_LIMIT_HEADERS : {}) }),
      ...(answer.links ? { links: answer.links } : {}),
    };
  }
  for (const [status, codes] of Object.entries(problemsOf(op))) {
    answers[status] = {
      description: `A problem: ${codes.map((c) => `\`${c}\``).join(', ')}`,
      content: { 'application/problem+json': { schema: problem } },
      ...headersOf({
        ...(op.rateLimit ? RATE_LIMIT_HEADERS : {}),
        ...(RETRY_AFTER_STATUSES.has(Number(status))
          ? {
              'Retry-After':
                'Seconds to wait before trying again (sent with `rate_limited`, `overloaded`, a daily quota, storage problems, `temporal_unavailable`)',
            }
          : {}),
      }),
      [PROBLEM_CODES_EXTENSION]: codes,
    } as ResponseConfig;
  }
  return answers;
}

function register(registry: OpenAPIRegistry, op: Operation, problem: z.ZodType): void {
  const idempotencyKey = z
    .string()
    .regex(/^[\x20-\x7e]{1,255}$/)
    .optional()
    .meta({
      param: {
        name: 'Idempotency-Key',
        in: 'header',
        description: 'Makes a retry of this request safe: the same key and request within KILN_IDEMPOTENCY_TTL answer the first answer again',
      },
    });
  const headers = [...(op.headers ?? []), ...(op.idempotent ? [idempotencyKey] : [])];
  registry.registerPath({
    method: op.method,
    path: op.path,
    operationId: op.operationId,
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    tags: [op.tag],
    security:
      op.auth === 'none' || op.auth === 'link'
        ? []
        : op.auth === 'api_key_or_link'
          ? [{ apiKey: [] }, {}]
          : [{ [op.auth === 'admin' ? 'adminToken' : 'apiKey']: [] }],
    request: {
      ...(op.params ? { params: op.params } : {}),
      ...(op.query ? { query: op.query } : {}),
      ...(headers.length ? { headers } : {}),
      ...(op.body
        ? {
            body: {
              required: op.body.required,
              ...(op.body.description ? { description: op.body.description } : {}),
              content: Object.fromEntries(Object.entries(op.body.content).map(([type, schema]) => [type, { schema }])),
            },
          }
        : {}),
    },
    responses: responses(op, problem),
  });
}

function registerWebhooks(registry: OpenAPIRegistry): void {
  for (const type of EVENT_TYPES) {
    registry.registerWebhook({
      method: 'post',
      path: type,
      operationId: `receive_${type.replace('.', '_')}`,
      summary: EVENT_CATALOG[type].description,
      description:
        'Signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature) and with X-Kiln-Signature: sha256=<hex>; see docs/webhooks.md.',
      request: {
        headers: z.object({
          'webhook-id': z.string(),
          'webhook-timestamp': z.string(),
          'webhook-signature': z.string(),
          'x-kiln-signature': z.string(),
          'x-kiln-event': z.literal(type),
        }),
        body: { required: true, content: { 'application/json': { schema: s.eventEnvelopes[type] } } },
      },
      responses: { 200: { description: 'Any 2xx acknowledges the delivery; anything else, or no answer within the timeout, is retried on the schedule.' } },
    });
  }
}

const documents = new WeakMap<readonly Operation[], unknown>();

/** The OpenAPI document of `operations` (built once per list). */
export function openApiDocument(operations: readonly Operation[], version: string): unknown {
  const cached = documents.get(operations);
  if (cached) return cached;
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'apiKey', { type: 'http', scheme: 'bearer', description: 'An API key: Authorization: Bearer kiln_…' });
  registry.registerComponent('securitySchemes', 'adminToken', { type: 'http', scheme: 'bearer', description: 'The admin token (KILN_ADMIN_TOKEN)' });
  const codes = [...new Set(operations.flatMap((op) => Object.values(problemsOf(op)).flat()))].sort();
  const problem = s.problemSchema(codes);
  for (const op of operations) register(registry, op, problem);
  registerWebhooks(registry);
  const document = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Kiln',
      version,
      description: 'Self-hosted durable image conversion with signed webhooks.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/' }],
  });
  documents.set(operations, document);
  return document;
}
