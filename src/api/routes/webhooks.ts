import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { failedDeliveriesSince, findDelivery, finishDelivery, listAttempts, listDeliveries, reopenDelivery } from '../../db/deliveries.js';
import { DELIVERY_STATUSES, type Delivery, type DeliveryAttempt, type DeliveryStatus, type WebhookEndpoint } from '../../db/schema.js';
import {
  createEndpoint,
  deleteEndpoint,
  findEndpoint,
  listEndpoints,
  rotateAccountSecret,
  rotateEndpointSecret,
  updateEndpoint,
  type EndpointFields,
} from '../../db/webhook-endpoints.js';
import { describeEventTypes, EVENT_TYPES, isEventType } from '../../events/catalog.js';
import { publishEvent } from '../../events/publish.js';
import { hasPrefix, randomAlnum } from '../../ids.js';
import { cancelDeliveryRetries, redeliver } from '../../temporal/deliveries.js';
import { dispatchDeliveries } from '../../webhooks/dispatch.js';
import { webhookEnvelope } from '../../webhooks/payload.js';
import { formatDuration, parseSchedule } from '../../webhooks/schedule.js';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import { readJsonBody } from '../json-body.js';
import { pageEnvelope, readPage } from '../pagination.js';
import { ApiError } from '../problem.js';
import { idempotentAction, idempotentJson } from '../idempotency.js';
import { pathId, printable, queryId, queryParameter } from '../params.js';
import { checkWebhookUrl, TAG_PATTERN } from '../webhook-fields.js';
import { fieldProblems } from '../../validation.js';

function endpointNotFound(id: string): ApiError {
  return new ApiError(404, 'endpoint_not_found', `no webhook endpoint ${id}`);
}

const deliveryNotFound = (id: string): ApiError => new ApiError(404, 'delivery_not_found', `no delivery ${id}`);
const endpointIdOf = (ctx: Context): string => pathId(ctx, 'ep', endpointNotFound);

const MAX_TAGS = 20;

export const endpointBody = z
  .object({
    url: z.string({ message: 'url must be a string' }),
    description: z.string().max(500, 'description must be at most 500 characters'),
    event_types: z.array(z.string()).max(EVENT_TYPES.length, 'event_types lists each type at most once'),
    tags: z.array(z.string().regex(TAG_PATTERN, 'each tag is 1–64 letters, digits, or . _ : -')).max(MAX_TAGS, `at most ${MAX_TAGS} tags`),
    enabled: z.boolean({ message: 'enabled must be true or false' }),
    retry_schedule: z.array(z.string()).nullable(),
  })
  .strict();

export const recoverBody = z
  .object({
    endpoint_id: z.string({ message: 'endpoint_id is required' }),
    since: z.iso.datetime({ offset: true, message: 'since must be an ISO-8601 date-time' }),
  })
  .strict();

/** Validates a create (all of `url`, the rest optional) or a patch (anything optional). */
function readEndpointFields(body: unknown, deps: ApiDependencies, mode: 'create' | 'patch'): Partial<EndpointFields> {
  const schema = mode === 'create' ? endpointBody.partial().required({ url: true }) : endpointBody.partial();
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const problems = fieldProblems(parsed.error, 'field');
    throw new ApiError(400, 'invalid_body', problems.map((p) => `${p.field}: ${p.message}`).join('; '), { errors: problems });
  }
  const input = parsed.data;
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
    fields.eventTypes = [...new Set(input.event_types)];
  }
  if (input.tags !== undefined) fields.tags = [...new Set(input.tags)];
  if (input.enabled !== undefined) fields.enabled = input.enabled;
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

function presentEndpoint(endpoint: WebhookEndpoint, defaultSchedule: number[]): Record<string, unknown> {
  return {
    id: endpoint.id,
    object: 'webhook_endpoint',
    url: endpoint.url,
    description: endpoint.description,
    event_types: endpoint.event_types,
    tags: endpoint.tags,
    retry_schedule: (endpoint.retry_schedule ?? defaultSchedule).map(formatDuration),
    retry_schedule_is_default: endpoint.retry_schedule === null,
    enabled: endpoint.enabled,
    disabled_reason: endpoint.disabled_reason,
    failing_since: endpoint.failing_since?.toISOString() ?? null,
    previous_secret_expires_at: liveUntil(endpoint.previous_secret_expires_at),
    created_at: endpoint.created_at.toISOString(),
    updated_at: endpoint.updated_at.toISOString(),
  };
}

/** When the rotated-out secret stops signing; null once it has. */
function liveUntil(expiresAt: Date | null): string | null {
  return expiresAt && expiresAt.getTime() > Date.now() ? expiresAt.toISOString() : null;
}

function presentDelivery(delivery: Delivery): Record<string, unknown> {
  return {
    id: delivery.id,
    object: 'webhook_delivery',
    event_id: delivery.event_id,
    event_type: delivery.event_type,
    endpoint_id: delivery.endpoint_id,
    url: delivery.url,
    status: delivery.status,
    attempt_count: delivery.attempt_count,
    last_status_code: delivery.last_status_code,
    last_error: delivery.last_error,
    next_attempt_at: delivery.next_attempt_at?.toISOString() ?? null,
    retry_schedule: delivery.retry_schedule.map(formatDuration),
    workflow_id: delivery.workflow_id,
    created_at: delivery.created_at.toISOString(),
    updated_at: delivery.updated_at.toISOString(),
    completed_at: delivery.completed_at?.toISOString() ?? null,
  };
}

function presentAttempt(attempt: DeliveryAttempt): Record<string, unknown> {
  return {
    attempt: attempt.attempt,
    trigger: attempt.trigger,
    url: attempt.url,
    scheduled_at: attempt.scheduled_at.toISOString(),
    started_at: attempt.started_at.toISOString(),
    duration_ms: attempt.duration_ms,
    status_code: attempt.status_code,
    response_body_preview: attempt.response_body_preview,
    error: attempt.error_class ? { class: attempt.error_class, message: attempt.error_message } : null,
  };
}

export function webhookRoutes(deps: ApiDependencies): Router {
  const { db, config } = deps;
  const router = new Router();
  const defaultSchedule = deps.delivery.defaultRetrySchedule;

  async function endpointOr404(ctx: Context): Promise<WebhookEndpoint> {
    const id = endpointIdOf(ctx);
    const endpoint = await findEndpoint(db, accountOf(ctx).id, id);
    if (!endpoint) throw endpointNotFound(id);
    return endpoint;
  }

  async function deliveryOr404(ctx: Context): Promise<Delivery> {
    const id = pathId(ctx, 'dlv', deliveryNotFound);
    const delivery = await findDelivery(db, accountOf(ctx).id, id);
    if (!delivery) throw deliveryNotFound(id);
    return delivery;
  }

  /** Re-delivery needs a live target: a disabled endpoint is refused up front. */
  function requireEnabled(endpoint: WebhookEndpoint): void {
    if (!endpoint.enabled) {
      throw new ApiError(409, 'endpoint_disabled', `endpoint ${endpoint.id} is disabled; enable it with PATCH first`, {
        disabled_reason: endpoint.disabled_reason,
      });
    }
  }

  /** Re-opens the delivery and asks its workflow for an immediate attempt (the target already checked). */
  async function redeliverNow(delivery: Delivery): Promise<void> {
    await reopenDelivery(db, delivery.id);
    await redeliver(deps.temporal, delivery, deps.delivery.requestTimeoutSeconds);
  }

  router.get('/v1/webhooks/event-types', (ctx) => {
    ctx.body = { data: describeEventTypes(), next_cursor: null };
  });

  router.get('/v1/webhooks/secret', (ctx) => {
    const account = accountOf(ctx);
    ctx.body = { secret: account.webhook_secret, previous_secret_expires_at: liveUntil(account.previous_webhook_secret_expires_at) };
  });

  router.post(
    '/v1/webhooks/secret/rotate',
    idempotentAction(deps, async (ctx) => {
      const account = await rotateAccountSecret(db, accountOf(ctx).id, config.webhookSecretOverlapSeconds);
      ctx.body = { secret: account.webhook_secret, previous_secret_expires_at: liveUntil(account.previous_webhook_secret_expires_at) };
    }),
  );

  router.post(
    '/v1/webhooks/endpoints',
    idempotentJson(deps, async (ctx, body) => {
      const fields = readEndpointFields(body, deps, 'create');
      const endpoint = await createEndpoint(db, accountOf(ctx).id, {
        url: fields.url!,
        description: fields.description ?? '',
        eventTypes: fields.eventTypes ?? [],
        tags: fields.tags ?? [],
        retrySchedule: fields.retrySchedule ?? null,
        enabled: fields.enabled ?? true,
      });
      ctx.status = 201;
      ctx.set('Location', `/v1/webhooks/endpoints/${endpoint.id}`);
      ctx.body = { ...presentEndpoint(endpoint, defaultSchedule), secret: endpoint.secret };
    }),
  );

  router.get('/v1/webhooks/endpoints', async (ctx) => {
    const page = readPage(ctx.query);
    const rows = await listEndpoints(db, accountOf(ctx).id, { ...page, limit: page.limit + 1 });
    ctx.body = pageEnvelope(rows, page.limit, (row) => presentEndpoint(row, defaultSchedule));
  });

  router.get('/v1/webhooks/endpoints/:id', async (ctx) => {
    ctx.body = presentEndpoint(await endpointOr404(ctx), defaultSchedule);
  });

  router.patch('/v1/webhooks/endpoints/:id', async (ctx) => {
    const id = endpointIdOf(ctx);
    const fields = readEndpointFields(await readJsonBody(ctx), deps, 'patch');
    const endpoint = await updateEndpoint(db, accountOf(ctx).id, id, fields);
    if (!endpoint) throw endpointNotFound(id);
    ctx.body = presentEndpoint(endpoint, defaultSchedule);
  });

  router.delete('/v1/webhooks/endpoints/:id', async (ctx) => {
    const id = endpointIdOf(ctx);
    if (!(await deleteEndpoint(db, accountOf(ctx).id, id))) throw endpointNotFound(id);
    ctx.status = 204;
  });

  router.get('/v1/webhooks/endpoints/:id/secret', async (ctx) => {
    const endpoint = await endpointOr404(ctx);
    ctx.body = { secret: endpoint.secret, previous_secret_expires_at: liveUntil(endpoint.previous_secret_expires_at) };
  });

  router.post(
    '/v1/webhooks/endpoints/:id/rotate-secret',
    idempotentAction(deps, async (ctx) => {
      const id = endpointIdOf(ctx);
      const endpoint = await rotateEndpointSecret(db, accountOf(ctx).id, id, config.webhookSecretOverlapSeconds);
      if (!endpoint) throw endpointNotFound(id);
      ctx.body = { secret: endpoint.secret, previous_secret_expires_at: liveUntil(endpoint.previous_secret_expires_at) };
    }),
  );

  router.post(
    '/v1/webhooks/endpoints/:id/test',
    idempotentAction(deps, async (ctx) => {
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
      await dispatchDeliveries(deps.temporal, db, event, deps.delivery, deps.log);
      ctx.status = 202;
      ctx.body = { event_id: event.id, delivery_id: event.deliveries[0]?.id ?? null };
    }),
  );

  router.get('/v1/webhooks/deliveries', async (ctx) => {
    const page = readPage(ctx.query);
    const endpointId = queryId(ctx.query, 'endpoint_id', 'ep');
    const eventId = queryId(ctx.query, 'event_id', 'evt');
    const status = queryParameter(ctx.query, 'status');
    const eventType = queryParameter(ctx.query, 'event_type');
    if (status !== undefined && !DELIVERY_STATUSES.includes(status as DeliveryStatus)) {
      throw new ApiError(400, 'invalid_parameter', `status must be one of ${DELIVERY_STATUSES.join(', ')}`, { parameter: 'status' });
    }
    if (eventType !== undefined && !isEventType(eventType)) {
      throw new ApiError(400, 'invalid_parameter', `event_type must be one of ${EVENT_TYPES.join(', ')}`, { parameter: 'event_type' });
    }
    const rows = await listDeliveries(
      db,
      accountOf(ctx).id,
      { endpointId, eventType, status: status as DeliveryStatus | undefined, eventId },
      { ...page, limit: page.limit + 1 },
    );
    ctx.body = pageEnvelope(rows, page.limit, presentDelivery);
  });

  router.get('/v1/webhooks/deliveries/:id', async (ctx) => {
    const delivery = await deliveryOr404(ctx);
    const event = await db.selectFrom('events').selectAll().where('id', '=', delivery.event_id).executeTakeFirstOrThrow();
    ctx.body = {
      ...presentDelivery(delivery),
      // The body as stored; a completed conversion's download_url is signed afresh on each attempt.
      payload: webhookEnvelope(event, undefined, new Date()),
      attempts: (await listAttempts(db, delivery.id)).map(presentAttempt),
    };
  });

  router.post(
    '/v1/webhooks/deliveries/:id/retry',
    idempotentAction(deps, async (ctx) => {
      const delivery = await deliveryOr404(ctx);
      if (delivery.endpoint_id) {
        const endpoint = await findEndpoint(db, accountOf(ctx).id, delivery.endpoint_id);
        if (!endpoint) throw new ApiError(409, 'endpoint_deleted', `endpoint ${delivery.endpoint_id} was deleted`);
        requireEnabled(endpoint);
      }
      await redeliverNow(delivery);
      ctx.status = 202;
      ctx.body = presentDelivery((await findDelivery(db, accountOf(ctx).id, delivery.id)) ?? delivery);
    }),
  );

  router.post(
    '/v1/webhooks/deliveries/:id/cancel',
    idempotentAction(deps, async (ctx) => {
      const delivery = await deliveryOr404(ctx);
      if (delivery.status !== 'pending') {
        throw new ApiError(409, 'delivery_finished', `the delivery already ended as ${delivery.status}`, { delivery_status: delivery.status });
      }
      if (!(await cancelDeliveryRetries(deps.temporal, delivery))) await finishDelivery(db, delivery.id, 'cancelled');
      ctx.status = 202;
      ctx.body = presentDelivery((await findDelivery(db, accountOf(ctx).id, delivery.id)) ?? delivery);
    }),
  );

  router.post(
    '/v1/webhooks/recover',
    idempotentJson(deps, async (ctx, body) => {
      const parsed = recoverBody.safeParse(body);
      if (!parsed.success) throw new ApiError(400, 'invalid_body', parsed.error.issues.map((i) => i.message).join('; '));
      const accountId = accountOf(ctx).id;
      const endpoint = hasPrefix(parsed.data.endpoint_id, 'ep') ? await findEndpoint(db, accountId, parsed.data.endpoint_id) : undefined;
      if (!endpoint) throw endpointNotFound(printable(parsed.data.endpoint_id));
      const failed = await failedDeliveriesSince(db, accountId, endpoint.id, new Date(parsed.data.since));
      if (failed.length > 0) requireEnabled(endpoint);
      for (const delivery of failed) await redeliverNow(delivery);
      ctx.status = 202;
      ctx.body = { endpoint_id: endpoint.id, since: parsed.data.since, redelivered: failed.length, delivery_ids: failed.map((d) => d.id) };
    }),
  );

  return router;
}
