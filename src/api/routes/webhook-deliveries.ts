import type { Context } from 'koa';
import { z } from 'zod';
import { deliveriesToRecover, findDelivery, isEventPurged, finishDelivery, listAttempts, listDeliveries, reopenDelivery } from '../../db/deliveries.js';
import { DELIVERY_STATUSES, type Delivery, type DeliveryAttempt, type WebhookEndpoint } from '../../db/schema.js';
import { eventOfDelivery } from '../../db/events.js';
import { findEndpoint } from '../../db/webhook-endpoints.js';
import { EVENT_TYPES } from '../../model/event-catalog.js';
import { hasPrefix } from '../../ids.js';
import { cancelDeliveryRetries, redeliver } from '../../webhooks/delivery-workflow.js';
import { presentEvent } from './events.js';
import { formatDuration } from '../../durations.js';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import * as s from '../contract/schemas.js';
import { parseBody } from '../json-body.js';
import { createdRangeQuery, idParam, jsonAnswer, jsonBody, operation, pageQuery, linksTo, type Operation } from '../operation.js';
import { idempotentAction, idempotentJson } from '../idempotency.js';
import { pageEnvelope, readPage } from '../pagination.js';
import { pathId, printable, queryChoice, queryCreatedRange, queryId } from '../params.js';
import { ApiError } from '../../problem.js';
import { endpointNotFound } from './webhook-endpoints.js';

/** The delivery log: every event sent to every target, its attempts, retries, cancels and recovery. */

const deliveryNotFound = (id: string): ApiError => new ApiError(404, 'delivery_not_found', `no delivery ${id}`);

const recoverBody = z
  .object({
    endpoint_id: z.string({ message: 'endpoint_id is required' }).regex(/^ep_[0-9a-z]{23}$/, 'endpoint_id must be an endpoint id (ep_…)'),
    since: z.iso.datetime({ offset: true, message: 'since must be an ISO-8601 date-time' }),
    status: z
      .array(z.enum(['failed', 'pending']), { message: 'status must be a list of failed and pending' })
      .min(1, 'status must name failed, pending or both')
      .optional()
      .describe('Which deliveries to send again now: failed ones (the default), pending ones waiting for a retry, or both'),
    dry_run: z
      .boolean({ message: 'dry_run must be true or false' })
      .optional()
      .describe('Only say which deliveries would be sent again (`redelivered` counts them), sending none'),
  })
  .strict();

function presentDelivery(delivery: Delivery): z.input<typeof s.Delivery> {
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
    throttled_count: delivery.throttled_count,
    throttled_until: delivery.throttled_until?.toISOString() ?? null,
    workflow_id: delivery.dispatched_at === null ? null : delivery.workflow_id,
    created_at: delivery.created_at.toISOString(),
    updated_at: delivery.updated_at.toISOString(),
    completed_at: delivery.completed_at?.toISOString() ?? null,
  };
}

function presentAttempt(attempt: DeliveryAttempt): z.input<typeof s.Attempt> {
  return {
    attempt: attempt.attempt,
    trigger: attempt.trigger,
    url: attempt.url,
    scheduled_at: attempt.scheduled_at.toISOString(),
    started_at: attempt.started_at.toISOString(),
    duration_ms: attempt.duration_ms,
    status_code: attempt.status_code,
    response_body_preview: attempt.response_body_preview,
    request: attempt.request_headers === null ? null : { headers: attempt.request_headers, body: attempt.request_body ?? '' },
    error: attempt.error_class ? { class: attempt.error_class, message: attempt.error_message } : null,
  };
}

export function webhookDeliveryOperations(deps: ApiDependencies): Operation[] {
  const { db } = deps;
  const params = idParam('dlv', 'delivery');

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
    await redeliver(deps.temporal, db, delivery, deps.delivery.requestTimeoutSeconds);
  }

  return [
    operation({
      operationId: 'listDeliveries',
      method: 'get',
      path: '/v1/webhooks/deliveries',
      summary: 'The delivery log, newest first',
      tag: 'Webhook deliveries',
      auth: 'api_key',
      query: z.object({
        ...pageQuery,
        endpoint_id: z
          .string()
          .regex(/^ep_[0-9a-z]{23}$/)
          .optional()
          .describe('Only deliveries to this endpoint'),
        event_type: z.enum(EVENT_TYPES).optional(),
        status: z.enum(DELIVERY_STATUSES).optional(),
        event_id: z
          .string()
          .regex(/^evt_[0-9a-z]{23}$/)
          .optional()
          .describe('Only deliveries of this event'),
        ...createdRangeQuery,
      }),
      answers: { 200: jsonAnswer('A page of deliveries', s.page(s.Delivery, 'WebhookDeliveryPage')) },
      problems: { 400: ['invalid_parameter'] },
      handler: async (ctx) => {
        const page = readPage(ctx.query);
        const endpointId = queryId(ctx.query, 'endpoint_id', 'ep');
        const eventId = queryId(ctx.query, 'event_id', 'evt');
        const status = queryChoice(ctx.query, 'status', DELIVERY_STATUSES);
        const eventType = queryChoice(ctx.query, 'event_type', EVENT_TYPES);
        const filter = { endpointId, eventType, status, eventId, ...queryCreatedRange(ctx.query) };
        const rows = await listDeliveries(db, accountOf(ctx).id, filter, { ...page, limit: page.limit + 1 });
        ctx.body = pageEnvelope(rows, page.limit, presentDelivery);
      },
    }),
    operation({
      operationId: 'getDelivery',
      method: 'get',
      path: '/v1/webhooks/deliveries/{id}',
      summary: 'One delivery with its payload and every attempt',
      tag: 'Webhook deliveries',
      auth: 'api_key',
      params,
      answers: { 200: jsonAnswer('The delivery', s.DeliveryDetail) },
      problems: { 404: ['delivery_not_found'] },
      handler: async (ctx) => {
        const delivery = await deliveryOr404(ctx);
        const event = await eventOfDelivery(db, delivery);
        ctx.body = {
          ...presentDelivery(delivery),
          // As an attempt made now would send it: its links are signed afresh for each attempt.
          payload: presentEvent(event, deps.signer),
          attempts: (await listAttempts(db, delivery.id)).map(presentAttempt),
        };
      },
    }),
    operation({
      operationId: 'retryDelivery',
      method: 'post',
      path: '/v1/webhooks/deliveries/{id}/retry',
      summary: 'An immediate manual attempt, same webhook-id',
      tag: 'Webhook deliveries',
      auth: 'api_key',
      rateLimit: 'webhooks',
      idempotent: true,
      params,
      answers: { 202: jsonAnswer('Retrying', s.Delivery, { links: linksTo(['getDelivery'], 'delivery') }) },
      problems: { 404: ['delivery_not_found'], 409: ['endpoint_disabled', 'endpoint_deleted', 'event_purged'], 503: ['temporal_unavailable'] },
      handler: idempotentAction(deps, async (ctx) => {
        const delivery = await deliveryOr404(ctx);
        if (await isEventPurged(db, delivery.event_id)) {
          throw new ApiError(
            409,
            'event_purged',
            `the payload of event ${delivery.event_id} is past its retention (KILN_RETENTION_EVENTS): there is nothing left to send`,
          );
        }
        if (delivery.endpoint_id) {
          const endpoint = await findEndpoint(db, accountOf(ctx).id, delivery.endpoint_id);
          if (!endpoint) throw new ApiError(409, 'endpoint_deleted', `endpoint ${delivery.endpoint_id} was deleted`);
          requireEnabled(endpoint);
        }
        await redeliverNow(delivery);
        ctx.status = 202;
        ctx.body = presentDelivery((await findDelivery(db, accountOf(ctx).id, delivery.id)) ?? delivery);
      }),
    }),
    operation({
      operationId: 'cancelDelivery',
      method: 'post',
      path: '/v1/webhooks/deliveries/{id}/cancel',
      summary: "Drop a delivery's pending retries",
      tag: 'Webhook deliveries',
      auth: 'api_key',
      idempotent: true,
      params,
      answers: { 202: jsonAnswer('Cancelling', s.Delivery) },
      problems: { 404: ['delivery_not_found'], 409: ['delivery_finished'], 503: ['temporal_unavailable'] },
      handler: idempotentAction(deps, async (ctx) => {
        const delivery = await deliveryOr404(ctx);
        if (delivery.status !== 'pending') {
          throw new ApiError(409, 'delivery_finished', `the delivery already ended as ${delivery.status}`, { delivery_status: delivery.status });
        }
        if (!(await cancelDeliveryRetries(deps.temporal, delivery))) await finishDelivery(db, delivery.id, 'cancelled');
        ctx.status = 202;
        ctx.body = presentDelivery((await findDelivery(db, accountOf(ctx).id, delivery.id)) ?? delivery);
      }),
    }),
    operation({
      operationId: 'recoverDeliveries',
      method: 'post',
      path: '/v1/webhooks/recover',
      summary: "Re-deliver an endpoint's failed (or pending) deliveries since a time",
      tag: 'Webhook deliveries',
      auth: 'api_key',
      rateLimit: 'webhooks',
      idempotent: true,
      body: jsonBody(recoverBody),
      answers: { 202: jsonAnswer('Re-delivering', s.Recovered) },
      problems: { 404: ['endpoint_not_found'], 409: ['endpoint_disabled'], 503: ['temporal_unavailable'] },
      handler: idempotentJson(deps, async (ctx, body) => {
        const input = parseBody(recoverBody, body);
        const accountId = accountOf(ctx).id;
        const endpoint = hasPrefix(input.endpoint_id, 'ep') ? await findEndpoint(db, accountId, input.endpoint_id) : undefined;
        if (!endpoint) throw endpointNotFound(printable(input.endpoint_id));
        const chosen = await deliveriesToRecover(db, accountId, endpoint.id, new Date(input.since), input.status ?? ['failed']);
        if (chosen.length > 0) requireEnabled(endpoint);
        if (!input.dry_run) for (const delivery of chosen) await redeliverNow(delivery);
        ctx.status = 202;
        ctx.body = {
          endpoint_id: endpoint.id,
          since: input.since,
          dry_run: input.dry_run ?? false,
          redelivered: chosen.length,
          delivery_ids: chosen.map((d) => d.id),
        };
      }),
    }),
  ];
}
