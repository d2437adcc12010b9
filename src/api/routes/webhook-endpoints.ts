import { admitEndpoint } from '../../limits/quotas.js';
import { retargetPendingDeliveries } from '../../db/deliveries.js';
import type { Context } from 'koa';
import { z } from 'zod';
import type { WebhookEndpoint } from '../../db/schema.js';
import {
  createEndpoint,
  deleteEndpoint,
  endpointSecrets,
  findEndpoint,
  listEndpoints,
  rotateEndpointSecret,
  updateEndpoint,
  type EndpointFields,
} from '../../db/webhook-endpoints.js';
import { EVENT_TYPES, isEventType } from '../../model/event-catalog.js';
import { publishEvent } from '../../events/publish.js';
import { randomAlnum } from '../../ids.js';
import { dispatchOrDefer } from '../../webhooks/dispatch.js';
import { requestLog } from '../request-log.js';
import { formatDuration, parseSchedule, RETRY_WAIT_PATTERN } from '../../durations.js';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import * as s from '../contract/schemas.js';
import { idParam, jsonAnswer, jsonBody, operation, pageQuery, linksTo, type Operation } from '../operation.js';
import { idempotentAction, idempotentJson, idempotentOptionalJson } from '../idempotency.js';
import { readJsonBody, readOptionalJsonBody, parseBody } from '../json-body.js';
import { pageEnvelope, readPage } from '../pagination.js';
import { pathId } from '../params.js';
import { ApiError } from '../../problem.js';
import {
  broughtSecret,
  HEADER_NAME,
  rotateBody,
  WHSEC_PATTERN,
  readRotateBody,
  checkBroughtSecret,
  checkCustomHeaders,
  checkHeadersBesideSignature,
  rateLimitBody,
} from '../webhook-fields.js';
import { checkWebhookUrl, MAX_URL_LENGTH, TAG_PATTERN } from '../../intake/request-webhook.js';
import {
  checkSignature,
  checkTemplate,
  presentSignature,
  previewEvent,
  previewRequest,
  PREVIEW_PROBLEMS,
  previewBody,
  readPreviewBody,
  signatureBody,
  templateField,
} from '../receiver-format.js';

/** Webhook endpoints: the receivers an account registers, their secrets, and test events. */

export function endpointNotFound(id: string): ApiError {
  return new ApiError(404, 'endpoint_not_found', `no webhook endpoint ${id}`);
}

const endpointIdOf = (ctx: Context): string => pathId(ctx, 'ep', endpointNotFound);

const MAX_TAGS = 20;

const endpointBody = z
  .object({
    url: z.string({ message: 'url must be a string' }),
    description: z.string().max(500, 'description must be at most 500 characters'),
    event_types: z.array(z.string()).max(EVENT_TYPES.length, 'event_types lists each type at most once'),
    tags: z.array(z.string().regex(TAG_PATTERN, 'each tag is 1–64 letters, digits, or . _ : -')).max(MAX_TAGS, `at most ${MAX_TAGS} tags`),
    enabled: z.boolean({ message: 'enabled must be true or false' }),
    retry_schedule: z.array(z.string()).nullable(),
    rate_limit: rateLimitBody,
    secret: z
      .string()
      .describe(
        'Create only: a secret the receiver already holds (whsec_ + base64 of 24–64 bytes, or, with signature set, a plain string of 16–256 characters); a new one is made when absent',
      ),
    signature: signatureBody.nullable(),
    template: templateField,
    headers: z
      .record(z.string(), z.string())
      .describe("Sent with every delivery to this endpoint, beside Kiln's own (whose names it may not use); PATCH replaces them all"),
  })
  .strict();

/**
 * The body as documented: each field's shape as the checks below enforce it. They are made
 * by readEndpointFields, each naming its own code (invalid_url, unknown_event_type,
 * invalid_retry_schedule, invalid_secret, invalid_headers), where a shape check would say
 * only invalid_body.
 */
const endpointContract = endpointBody.extend({
  url: z.string().max(MAX_URL_LENGTH).meta({ format: 'uri' }).describe('http or https, without credentials; a literal address must be one webhooks may reach'),
  event_types: z.array(z.enum(EVENT_TYPES)).max(EVENT_TYPES.length).describe('The event types it gets; empty: all of them'),
  retry_schedule: z
    .array(z.string().regex(new RegExp(RETRY_WAIT_PATTERN)))
    .max(20)
    .nullable()
    .describe('The waits between attempts, e.g. ["30s","2m","10m"] (each up to 7d); null: KILN_WEBHOOK_RETRY_SCHEDULE'),
  secret: broughtSecret.describe(
    'Create only: a secret the receiver already holds (whsec_ + base64 of 24–64 bytes, or, with signature set, a plain string of 16–256 characters); a new one is made when absent',
  ),
  headers: z
    .record(z.string(), z.string().max(4096))
    .meta({ propertyNames: { pattern: HEADER_NAME.source } })
    .describe("Sent with every delivery to this endpoint, beside Kiln's own (whose names it may not use); PATCH replaces them all"),
});

/**
 * Validates a create (all of `url`, the rest optional) or a patch of `existing` (anything
 * optional). A template is checked over samples of the event types the endpoint will receive.
 */
async function readEndpointFields(body: unknown, deps: ApiDependencies, existing: WebhookEndpoint | null): Promise<Partial<EndpointFields>> {
  const schema = existing === null ? endpointBody.partial().required({ url: true }) : endpointBody.partial();
  const input = parseBody(schema, body);
  const fields: Partial<EndpointFields> = {};
  if (input.url !== undefined) fields.url = checkWebhookUrl(input.url, deps.guard, 'url');
  if (input.description !== undefined) fields.description = input.description;
  if (input.event_types !== undefined) {
    const unknown = input.event_types.filter((type) => !isEventType(type));
    if (unknown.length) {
      throw new ApiError(400, 'unknown_event_type', `unknown event type ${unknown.join(', ')}; see GET /v1/webhooks/event-types`, {
        field: 'event_types',
        known: EVENT_TYPES,
      });
    }
    fields.eventTypes = [...new Set(input.event_types.filter(isEventType))];
  }
  if (input.tags !== undefined) fields.tags = [...new Set(input.tags)];
  if (input.headers !== undefined) fields.headers = checkCustomHeaders(input.headers);
  if (input.signature !== undefined) fields.signature = checkSignature(input.signature);
  checkHeadersBesideSignature(fields.headers ?? existing?.headers ?? {}, fields.signature !== undefined ? fields.signature : (existing?.signature ?? null));
  if (input.secret !== undefined) {
    if (existing !== null)
      throw new ApiError(400, 'invalid_body', 'secret: change a secret with POST …/rotate-secret, which keeps the old one signing through the overlap');
    fields.secret = checkBroughtSecret(input.secret, Boolean(fields.signature));
  }
  if (input.template !== undefined) fields.template = await checkTemplate(deps, input.template, fields.eventTypes ?? existing?.event_types ?? []);
  // New event types meet the saved template: it must render their samples too.
  else if (fields.eventTypes !== undefined && existing?.template) await checkTemplate(deps, existing.template, fields.eventTypes);
  if (input.enabled !== undefined) fields.enabled = input.enabled;
  if (input.rate_limit !== undefined) fields.rateLimit = input.rate_limit;
  if (input.retry_schedule !== undefined) {
    if (input.retry_schedule === null) fields.retrySchedule = null;
    else {
      const schedule = parseSchedule(input.retry_schedule);
      if (!schedule.ok) throw new ApiError(400, 'invalid_retry_schedule', schedule.message, { field: 'retry_schedule' });
      fields.retrySchedule = schedule.seconds;
    }
  }
  return fields;
}

function presentEndpoint(endpoint: WebhookEndpoint, defaultSchedule: number[]): z.input<typeof s.Endpoint> {
  return {
    id: endpoint.id,
    object: 'webhook_endpoint',
    url: endpoint.url,
    description: endpoint.description,
    event_types: endpoint.event_types,
    tags: endpoint.tags,
    headers: endpoint.headers,
    signature: presentSignature(endpoint.signature),
    template: endpoint.template,
    retry_schedule: (endpoint.retry_schedule ?? defaultSchedule).map(formatDuration),
    retry_schedule_is_default: endpoint.retry_schedule === null,
    rate_limit: endpoint.rate_limit,
    enabled: endpoint.enabled,
    disabled_reason: endpoint.disabled_reason,
    failing_since: endpoint.failing_since?.toISOString() ?? null,
    previous_secret_expires_at: liveUntil(endpoint.previous_secret_expires_at),
    created_at: endpoint.created_at.toISOString(),
    updated_at: endpoint.updated_at.toISOString(),
  };
}

/** When the rotated-out secret stops signing; null once it has. */
export function liveUntil(expiresAt: Date | null): string | null {
  return expiresAt && expiresAt.getTime() > Date.now() ? expiresAt.toISOString() : null;
}

export function webhookEndpointOperations(deps: ApiDependencies): Operation[] {
  const { db, config } = deps;
  const defaultSchedule = deps.delivery.defaultRetrySchedule;
  const params = idParam('ep', 'endpoint');

  async function endpointOr404(ctx: Context): Promise<WebhookEndpoint> {
    const id = endpointIdOf(ctx);
    const endpoint = await findEndpoint(db, accountOf(ctx).id, id);
    if (!endpoint) throw endpointNotFound(id);
    return endpoint;
  }

  const fieldProblems = ['invalid_url', 'unknown_event_type', 'invalid_retry_schedule', 'invalid_headers', 'invalid_signature', 'invalid_template'];

  return [
    operation({
      operationId: 'createEndpoint',
      method: 'post',
      path: '/v1/webhooks/endpoints',
      summary: 'Register a webhook endpoint',
      tag: 'Webhook endpoints',
      auth: 'api_key',
      idempotent: true,
      // A plain-string secret is taken only beside an extra signature header.
      body: jsonBody(
        endpointContract
          .partial()
          .required({ url: true })
          .meta({
            if: { required: ['signature'], properties: { signature: { type: 'object' } } },
            else: { properties: { secret: { pattern: WHSEC_PATTERN } } },
          } as never),
      ),
      answers: {
        201: jsonAnswer('The endpoint with its secret', s.EndpointWithSecret, {
          headers: { Location: 'The endpoint' },
          links: linksTo(
            ['getEndpoint', 'updateEndpoint', 'getEndpointSecret', 'rotateEndpointSecret', 'previewEndpointDelivery', 'testEndpoint', 'deleteEndpoint'],
            'endpoint',
          ),
        }),
      },
      problems: { 400: [...fieldProblems, 'invalid_secret'], 422: ['blocked_address'], 429: ['quota_exceeded'] },
      handler: idempotentJson(deps, async (ctx, body) => {
        const fields = await readEndpointFields(body, deps, null);
        const accountId = accountOf(ctx).id;
        const endpoint = await db.transaction().execute(async (trx) => {
          await admitEndpoint(trx, deps.config, accountId);
          return createEndpoint(trx, accountId, {
            url: fields.url!,
            description: fields.description ?? '',
            eventTypes: fields.eventTypes ?? [],
            tags: fields.tags ?? [],
            retrySchedule: fields.retrySchedule ?? null,
            rateLimit: fields.rateLimit ?? null,
            enabled: fields.enabled ?? true,
            headers: fields.headers ?? {},
            signature: fields.signature ?? null,
            template: fields.template ?? null,
            secret: fields.secret,
          });
        });
        ctx.status = 201;
        ctx.set('Location', `/v1/webhooks/endpoints/${endpoint.id}`);
        ctx.body = { ...presentEndpoint(endpoint, defaultSchedule), secret: endpoint.secret };
      }),
    }),
    operation({
      operationId: 'listEndpoints',
      method: 'get',
      path: '/v1/webhooks/endpoints',
      summary: 'List endpoints',
      tag: 'Webhook endpoints',
      auth: 'api_key',
      query: z.object(pageQuery),
      answers: { 200: jsonAnswer('A page of endpoints', s.page(s.Endpoint, 'WebhookEndpointPage')) },
      problems: { 400: ['invalid_parameter'] },
      handler: async (ctx) => {
        const page = readPage(ctx.query);
        const rows = await listEndpoints(db, accountOf(ctx).id, { ...page, limit: page.limit + 1 });
        ctx.body = pageEnvelope(rows, page.limit, (row) => presentEndpoint(row, defaultSchedule));
      },
    }),
    operation({
      operationId: 'getEndpoint',
      method: 'get',
      path: '/v1/webhooks/endpoints/{id}',
      summary: 'One endpoint',
      tag: 'Webhook endpoints',
      auth: 'api_key',
      params,
      answers: { 200: jsonAnswer('The endpoint', s.Endpoint) },
      problems: { 404: ['endpoint_not_found'] },
      handler: async (ctx) => {
        ctx.body = presentEndpoint(await endpointOr404(ctx), defaultSchedule);
      },
    }),
    operation({
      operationId: 'updateEndpoint',
      method: 'patch',
      path: '/v1/webhooks/endpoints/{id}',
      summary: 'Change an endpoint (the fields given; headers replaces them all)',
      tag: 'Webhook endpoints',
      auth: 'api_key',
      params,
      body: jsonBody(endpointContract.omit({ secret: true }).partial()),
      answers: { 200: jsonAnswer('The endpoint', s.Endpoint) },
      problems: { 400: fieldProblems, 404: ['endpoint_not_found'], 422: ['blocked_address'] },
      handler: async (ctx) => {
        const id = endpointIdOf(ctx);
        const body = await readJsonBody(ctx);
        const fields = await readEndpointFields(body, deps, await endpointOr404(ctx));
        const endpoint = await db.transaction().execute(async (trx) => {
          const updated = await updateEndpoint(trx, accountOf(ctx).id, id, fields);
          // Its pending deliveries go to the new URL from their next attempt on, and say so.
          if (updated && fields.url !== undefined) await retargetPendingDeliveries(trx, updated.id, updated.url);
          return updated;
        });
        if (!endpoint) throw endpointNotFound(id);
        ctx.body = presentEndpoint(endpoint, defaultSchedule);
      },
    }),
    operation({
      operationId: 'deleteEndpoint',
      method: 'delete',
      path: '/v1/webhooks/endpoints/{id}',
      summary: 'Delete an endpoint (its delivery log stays)',
      tag: 'Webhook endpoints',
      auth: 'api_key',
      params,
      answers: { 204: { description: 'Deleted' } },
      problems: { 404: ['endpoint_not_found'] },
      handler: async (ctx) => {
        const id = endpointIdOf(ctx);
        if (!(await deleteEndpoint(db, accountOf(ctx).id, id))) throw endpointNotFound(id);
        ctx.status = 204;
      },
    }),
    operation({
      operationId: 'getEndpointSecret',
      method: 'get',
      path: '/v1/webhooks/endpoints/{id}/secret',
      summary: "An endpoint's signing secret",
      tag: 'Webhook endpoints',
      auth: 'api_key',
      params,
      answers: { 200: jsonAnswer('The secret', s.Secret) },
      problems: { 404: ['endpoint_not_found'] },
      handler: async (ctx) => {
        const endpoint = await endpointOr404(ctx);
        ctx.body = { secret: endpoint.secret, previous_secret_expires_at: liveUntil(endpoint.previous_secret_expires_at) };
      },
    }),
    operation({
      operationId: 'rotateEndpointSecret',
      method: 'post',
      path: '/v1/webhooks/endpoints/{id}/rotate-secret',
      summary: "Rotate an endpoint's secret (optionally to one you bring); the old one signs beside it through the overlap",
      tag: 'Webhook endpoints',
      auth: 'api_key',
      idempotent: true,
      params,
      body: jsonBody(rotateBody, false),
      answers: { 200: jsonAnswer('The new secret', s.Secret) },
      problems: { 400: ['invalid_secret'], 404: ['endpoint_not_found'] },
      handler: idempotentOptionalJson(deps, async (ctx, body) => {
        const { id, signature } = await endpointOr404(ctx);
        const rotation = readRotateBody(body, signature !== null);
        const endpoint = await rotateEndpointSecret(db, accountOf(ctx).id, id, rotation.overlapSeconds ?? config.webhookSecretOverlapSeconds, rotation.secret);
        if (!endpoint) throw endpointNotFound(id);
        ctx.body = { secret: endpoint.secret, previous_secret_expires_at: liveUntil(endpoint.previous_secret_expires_at) };
      }),
    }),
    operation({
      operationId: 'previewEndpointDelivery',
      method: 'post',
      path: '/v1/webhooks/endpoints/{id}/preview',
      summary: 'Render a sample or stored event as a delivery to this endpoint would send it, without sending it',
      tag: 'Webhook endpoints',
      auth: 'api_key',
      params,
      body: jsonBody(previewBody, false),
      answers: { 200: jsonAnswer('The request', s.DeliveryPreview) },
      problems: { ...PREVIEW_PROBLEMS, 404: ['endpoint_not_found', ...PREVIEW_PROBLEMS[404]] },
      handler: async (ctx) => {
        const endpoint = await endpointOr404(ctx);
        const input = readPreviewBody(await readOptionalJsonBody(ctx));
        const event = await previewEvent(db, accountOf(ctx).id, input, endpoint.event_types);
        const template = input.template === undefined ? endpoint.template : input.template;
        ctx.body = await previewRequest(deps, event, {
          url: endpoint.url,
          secrets: endpointSecrets(endpoint),
          headers: endpoint.headers,
          signature: endpoint.signature,
          template,
        });
      },
    }),
    operation({
      operationId: 'testEndpoint',
      method: 'post',
      path: '/v1/webhooks/endpoints/{id}/test',
      summary: 'Send a webhook.test event to this endpoint alone',
      tag: 'Webhook endpoints',
      auth: 'api_key',
      rateLimit: 'webhooks',
      idempotent: true,
      params,
      answers: {
        202: jsonAnswer('Sent', s.TestSent, {
          links: {
            ...linksTo(['getDelivery', 'retryDelivery', 'cancelDelivery'], 'delivery', { field: 'delivery_id' }),
            ...linksTo(['getEvent'], 'event', { field: 'event_id' }),
          },
        }),
      },
      problems: { 404: ['endpoint_not_found'], 409: ['endpoint_disabled'] },
      handler: idempotentAction(deps, async (ctx) => {
        const endpoint = await endpointOr404(ctx);
        if (!endpoint.enabled) {
          throw new ApiError(409, 'endpoint_disabled', `endpoint ${endpoint.id} is disabled`, { disabled_reason: endpoint.disabled_reason });
        }
        const event = await publishEvent(
          db,
          {
            accountId: endpoint.account_id,
            type: 'webhook.test',
            subjectId: endpoint.id,
            dedupeKey: `${endpoint.id}:webhook.test:${randomAlnum(20)}`,
            data: { endpoint_id: endpoint.id, message: 'A test event from Kiln. If you can read this, your endpoint works.' },
          },
          { kind: 'endpoint', endpoint },
          defaultSchedule,
        );
        await dispatchOrDefer(deps.deliveries, [event], requestLog(ctx, deps.log));
        ctx.status = 202;
        ctx.body = { event_id: event.id, delivery_id: event.deliveries[0]?.delivery.id ?? null };
      }),
    }),
  ];
}
