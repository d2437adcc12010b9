import { ApplicationFailure, Context } from '@temporalio/activity';
import { findAccountById } from '../src/db/accounts.js';
import type { Kysely } from 'kysely';
import { findDeliveryWithEvent, finishDelivery, recordAttempt } from '../src/db/deliveries.js';
import { accountSecrets, disableEndpoint, endpointSecrets, findEndpointById, noteEndpointOutcome } from '../src/db/webhook-endpoints.js';
import type { AttemptTrigger, Database, Delivery } from '../src/db/schema.js';
import type { DownloadSigner } from '../src/signing/download-url.js';
import type { AddressGuard } from '../src/webhooks/address-guard.js';
import { postWebhook } from '../src/webhooks/http-post.js';
import { judgeAttempt } from '../src/webhooks/attempt-verdict.js';
import { webhookEnvelope } from '../src/webhooks/payload.js';
import { activeSecrets, signDelivery, type RotatingSecret } from '../src/webhooks/signing.js';
import type { DeliveryOutcome } from '../workflows/definitions.js';

export interface DeliverDependencies {
  db: Kysely<Database>;
  guard: AddressGuard;
  signer: DownloadSigner;
  disableAfterSeconds: number;
  userAgent: string;
}

export interface DeliverInput {
  deliveryId: string;
  retrySchedule: number[];
  requestTimeoutSeconds: number;
  trigger: AttemptTrigger;
  /** Scheduled attempts made before this activity's first (a first attempt made as a local activity). */
  attemptOffset?: number;
  /**
   * Answer a failure that has retries left with its wait instead of throwing it: the
   * workflow then waits on a durable timer (a local activity's failure does not carry
   * the wait Temporal would otherwise apply).
   */
  answerRetries?: boolean;
}

export type DeliverResult = { delivered: true; attempt: number; statusCode: number | null } | { delivered: false; retryInSeconds: number; error: string };

export function createDeliverActivities(deps: DeliverDependencies) {
  const { db } = deps;

  /** Where the delivery goes now and the secrets to sign with; an explanation when it cannot go anywhere. */
  async function resolveTarget(
    delivery: Delivery,
  ): Promise<{ url: string; secrets: RotatingSecret; failing: boolean } | { refusal: { class: string; message: string } }> {
    if (!delivery.endpoint_id) {
      const account = await findAccountById(db, delivery.account_id);
      return { url: delivery.url, secrets: accountSecrets(account), failing: false };
    }
    const endpoint = await findEndpointById(db, delivery.endpoint_id);
    if (!endpoint) return { refusal: { class: 'endpoint_deleted', message: 'the endpoint was deleted' } };
    if (!endpoint.enabled) {
      return { refusal: { class: 'endpoint_disabled', message: `the endpoint is disabled${endpoint.disabled_reason ? `: ${endpoint.disabled_reason}` : ''}` } };
    }
    return { url: endpoint.url, secrets: endpointSecrets(endpoint), failing: endpoint.failing_since !== null };
  }

  return {
    /**
     * One attempt. Throws on failure so Temporal retries it, with `nextRetryDelay` taken
     * from the delivery's schedule (stretched by Retry-After within [delay, 2×delay]).
     */
    async deliverWebhook(input: DeliverInput): Promise<DeliverResult> {
      const info = Context.current().info;
      const found = await findDeliveryWithEvent(db, input.deliveryId);
      if (!found) throw ApplicationFailure.nonRetryable(`no delivery ${input.deliveryId}`, 'delivery_not_found');
      const { delivery, event } = found;
      const scheduledAt = new Date(info.currentAttemptScheduledTimestampMs);
      const now = new Date();
      const target = await resolveTarget(delivery);

      if ('refusal' in target) {
        await recordAttempt(db, delivery.id, {
          trigger: input.trigger,
          url: delivery.url,
          scheduledAt,
          startedAt: now,
          durationMs: 0,
          statusCode: null,
          responseBodyPreview: null,
          error: target.refusal,
          nextAttemptAt: null,
        });
        throw ApplicationFailure.nonRetryable(target.refusal.message, target.refusal.class);
      }
      const { url } = target;
      const body = JSON.stringify(webhookEnvelope(event, deps.signer, now));
      const headers = {
        'content-type': 'application/json',
        'user-agent': deps.userAgent,
        'x-kiln-event': event.type,
        ...signDelivery(activeSecrets(target.secrets, now), event.id, now, body),
      };
      const outcome = await postWebhook(url, headers, body, { guard: deps.guard, timeoutMs: input.requestTimeoutSeconds * 1000 });

      const verdict = judgeAttempt(outcome, {
        trigger: input.trigger,
        number: info.attempt + (input.attemptOffset ?? 0),
        retrySchedule: input.retrySchedule,
        now: new Date(),
      });
      const error = verdict.kind === 'delivered' ? null : verdict.error;
      const attempt = await recordAttempt(db, delivery.id, {
        trigger: input.trigger,
        url,
        scheduledAt,
        startedAt: outcome.startedAt,
        durationMs: outcome.durationMs,
        statusCode: outcome.statusCode,
        responseBodyPreview: outcome.bodyPreview,
        error,
        nextAttemptAt: verdict.kind === 'manual_failed' ? 'unchanged' : verdict.kind === 'retry' ? new Date(Date.now() + verdict.delaySeconds * 1000) : null,
        succeeded: error === null,
      });
      // A success only needs writing to the endpoint when it ends a failure streak.
      if (delivery.endpoint_id && error?.class !== 'blocked_address' && (error !== null || target.failing)) {
        await noteEndpointOutcome(db, delivery.endpoint_id, error === null, deps.disableAfterSeconds);
      }
      switch (verdict.kind) {
        case 'delivered':
          return { delivered: true, attempt, statusCode: outcome.statusCode };
        case 'retry':
          if (input.answerRetries) return { delivered: false, retryInSeconds: verdict.delaySeconds, error: verdict.error.message };
          throw ApplicationFailure.create({ message: verdict.error.message, type: verdict.error.class, nextRetryDelay: `${verdict.delaySeconds} seconds` });
        case 'manual_failed':
          throw ApplicationFailure.nonRetryable(verdict.error.message, verdict.failureType);
        case 'give_up':
          if (verdict.disableEndpoint && delivery.endpoint_id) {
            await disableEndpoint(db, delivery.endpoint_id, `the endpoint answered 410 Gone on ${new Date().toISOString()}`);
          }
          throw ApplicationFailure.nonRetryable(verdict.failureMessage, verdict.failureType);
      }
    },

    async recordDeliveryOutcome(deliveryId: string, outcome: DeliveryOutcome): Promise<void> {
      await finishDelivery(db, deliveryId, outcome);
    },
  };
}

export type DeliverActivities = ReturnType<typeof createDeliverActivities>;
