import { ApplicationFailure, Context } from '@temporalio/activity';
import { findAccountById } from '../src/db/accounts.js';
import type { Kysely } from 'kysely';
import { findDeliveryWithEvent, finishDelivery, recordAttempt } from '../src/db/deliveries.js';
import { accountSecrets, disableEndpoint, endpointSecrets, findEndpointById, noteEndpointOutcome } from '../src/db/webhook-endpoints.js';
import type { AttemptTrigger, Database, Delivery } from '../src/db/schema.js';
import type { DownloadSigner } from '../src/signing/download-url.js';
import type { AddressGuard } from '../src/webhooks/address-guard.js';
import { postWebhook, type PostOutcome } from '../src/webhooks/http-post.js';
import { webhookEnvelope } from '../src/webhooks/payload.js';
import { parseRetryAfter, retryDelaySeconds } from '../src/webhooks/schedule.js';
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
}

/** A 410 from an endpoint means "stop sending": Kiln disables it. */
const GONE = 410;
const THROTTLED = [429, 503];

function isSuccess(outcome: PostOutcome): boolean {
  return outcome.statusCode !== null && outcome.statusCode >= 200 && outcome.statusCode < 300;
}

function describe(outcome: PostOutcome): { class: string; message: string } | null {
  if (outcome.error) return outcome.error;
  if (isSuccess(outcome)) return null;
  const code = outcome.statusCode!;
  const why = code >= 300 && code < 400 ? 'redirects are not followed' : 'only a 2xx counts as delivered';
  return { class: 'http_status', message: `the endpoint answered ${code}; ${why}` };
}

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
    async deliverWebhook(input: DeliverInput): Promise<{ attempt: number; statusCode: number | null }> {
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

      const error = describe(outcome);
      const retryAfter = outcome.statusCode !== null && THROTTLED.includes(outcome.statusCode) ? parseRetryAfter(outcome.retryAfter, new Date()) : undefined;
      const final = error === null || error.class === 'blocked_address' || error.class === 'invalid_url' || outcome.statusCode === GONE;
      const delaySeconds = final || input.trigger === 'manual' ? undefined : retryDelaySeconds(input.retrySchedule, info.attempt, retryAfter);
      const attempt = await recordAttempt(db, delivery.id, {
        trigger: input.trigger,
        url,
        scheduledAt,
        startedAt: outcome.startedAt,
        durationMs: outcome.durationMs,
        statusCode: outcome.statusCode,
        responseBodyPreview: outcome.bodyPreview,
        error,
        nextAttemptAt: input.trigger === 'manual' && !final ? 'unchanged' : delaySeconds === undefined ? null : new Date(Date.now() + delaySeconds * 1000),
        succeeded: error === null,
      });
      // A success only needs writing to the endpoint when it ends a failure streak.
      if (delivery.endpoint_id && error?.class !== 'blocked_address' && (error !== null || target.failing)) {
        await noteEndpointOutcome(db, delivery.endpoint_id, error === null, deps.disableAfterSeconds);
      }
      if (error === null) return { attempt, statusCode: outcome.statusCode };

      if (outcome.statusCode === GONE) {
        if (delivery.endpoint_id) {
          await disableEndpoint(db, delivery.endpoint_id, `the endpoint answered 410 Gone on ${new Date().toISOString()}`);
        }
        throw ApplicationFailure.nonRetryable(error.message, 'endpoint_gone');
      }
      if (final) throw ApplicationFailure.nonRetryable(error.message, error.class);
      if (delaySeconds === undefined) throw ApplicationFailure.nonRetryable(`${error.message} (no retries left)`, error.class);
      throw ApplicationFailure.create({ message: error.message, type: error.class, nextRetryDelay: `${delaySeconds} seconds` });
    },

    async recordDeliveryOutcome(deliveryId: string, outcome: DeliveryOutcome): Promise<void> {
      await finishDelivery(db, deliveryId, outcome);
    },
  };
}

export type DeliverActivities = ReturnType<typeof createDeliverActivities>;
