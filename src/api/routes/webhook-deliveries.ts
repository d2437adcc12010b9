import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { deliveriesToRecover, findDelivery, isEventPurged, finishDelivery, listAttempts, listDeliveries, reopenDelivery } from '../../db/deliveries.js';
import { DELIVERY_STATUSES, type Delivery, type DeliveryAttempt, type WebhookEndpoint } from '../../db/schema.js';
import { eventOfDelivery } from '../../db/events.js';
import { findEndpoint } from '../../db/webhook-endpoints.js';
import { EVENT_TYPES } from '../../model/event-catalog.js';
import { hasPrefix } from '../../ids.js';
import { cancelDeliveryRetries, redeliver } from '../../webhooks/delivery-workflow.js';
import { webhookEnvelope } from '../../webhooks/payload.js';
import { formatDuration } from '../../durations.js';
import { accountOf } from '../auth.js';
import type { ApiDependencies } from '../context.js';
import type * as contract from '../contract/schemas.js';
import { idempotentAction, idempotentJson } from '../idempotency.js';
import { pageEnvelope, readPage } from '../pagination.js';
import { pathId, printable, queryChoice, queryId } from '../params.js';
import { ApiError } from '../../problem.js';
import { endpointNotFound } from './webhook-endpoints.js';

/** The delivery log: every event sent to every target, its attempts, retries, cancels and recovery. */

const deliveryNotFound = (id: string): ApiError => new ApiError(404, 'delivery_not_found', `no delivery ${id}`);

export const recoverBody = z
  .object({
    endpoint_id: z.string({ message: 'endpoint_id is required' }),
    since: z.iso.datetime({ offset: true, message: 'since must be an ISO-8601 date-time' }),
    status: z
      .array(z.enum(['failed', 'pending']), { message: 'status must be a list of failed and pending' })
      .min(1, 'status must name failed, pending or both')
      .optional()
      .describe('Which deliveries to send again now: failed ones (the default), pending ones waiting for a retry, or both'),
  })
  .strict();

function presentDelivery(delivery: Delivery): z.input<typeof contract.Delivery> {
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
    workflow_id: delivery.dispatched_at === null ? null : delivery.workflow_id,
    created_at: delivery.created_at.toISOString(),
    updated_at: delivery.updated_at.toISOString(),
    completed_at: delivery.completed_at?.toISOString() ?? null,
  };
}

function presentAttempt(attempt: DeliveryAttempt): z.input<typeof contract.Attempt> {
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

export function webhookDeliveryRoutes(deps: ApiDependencies): Router {
  const { db } = deps;
  const router = new Router();

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

  router.get('/v1/webhooks/deliveries', async (ctx) => {
    const page = readPage(ctx.query);
    const endpointId = queryId(ctx.query, 'endpoint_id', 'ep');
    const eventId = queryId(ctx.query, 'event_id', 'evt');
    const status = queryChoice(ctx.query, 'status', DELIVERY_STATUSES);
    const eventType = queryChoice(ctx.query, 'event_type', EVENT_TYPES);
    const rows = await listDeliveries(db, accountOf(ctx).id, { endpointId, eventType, status, eventId }, { ...page, limit: page.limit + 1 });
    ctx.body = pageEnvelope(rows, page.limit, presentDelivery);
  });

  router.get('/v1/webhooks/deliveries/:id', async (ctx) => {
    const delivery = await deliveryOr404(ctx);
    const event = await eventOfDelivery(db, delivery);
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
      const chosen = await deliveriesToRecover(db, accountId, endpoint.id, new Date(parsed.data.since), parsed.data.status ?? ['failed']);
      if (chosen.length > 0) requireEnabled(endpoint);
      for (const delivery of chosen) await redeliverNow(delivery);
      ctx.status = 202;
      ctx.body = { endpoint_id: endpoint.id, since: parsed.data.since, redelivered: chosen.length, delivery_ids: chosen.map((d) => d.id) };
    }),
  );

  return router;
}
