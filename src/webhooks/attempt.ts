import type { Kysely } from 'kysely';
import type { AttemptLog } from '../db/attempt-log.js';
import type { AttemptTarget, DeliveryForAttempt } from '../db/deliveries.js';
import type { AttemptTrigger, Database, DeliveryStatus, EventRow } from '../db/schema.js';
import { disableEndpoint, noteEndpointOutcome } from '../db/webhook-endpoints.js';
import type { DownloadSigner } from '../signing/download-url.js';
import type { AddressGuard } from '../net/address-guard.js';
import { judgeAttempt, type AttemptError, type AttemptOutcome, type AttemptVerdict } from './attempt-verdict.js';
import { postWebhook, textPreview } from './http-post.js';
import { webhookEnvelope } from './payload.js';
import { activeSecrets, signDelivery } from '../signing/webhook-signature.js';
import { webhookAttempts } from '../process-metrics.js';
import type { TemplateRenderer } from './template.js';
import { takeTurn, waitFor } from './throttle.js';

/** How much of each request's body the delivery log keeps (Kiln's own bodies are far smaller). */
const REQUEST_BODY_LOG_BYTES = 64 * 1024;

/** A target an attempt can be sent to (not refused). */
type DeliveryTarget = Exclude<AttemptTarget, { refusal: unknown }>;

export interface AttemptDependencies extends RequestFormDependencies {
  db: Kysely<Database>;
  /** Writes the delivery log (batched under load). */
  attemptLog: AttemptLog;
  guard: AddressGuard;
  disableAfterSeconds: number;
}

export interface RequestFormDependencies {
  signer: DownloadSigner;
  templates: TemplateRenderer;
  userAgent: string;
}

/** A delivery's request as its target wants it, or why it could not be formed (its template failed). */
export type FormedRequest = { headers: Record<string, string>; body: string } | { error: AttemptError };

/**
 * The body and headers of an attempt sent at `now`: Kiln's envelope (its links signed at
 * `now`), through the target's template when it has one, then signed; previews use it too,
 * so what they show is what is sent.
 */
export async function formRequest(
  deps: RequestFormDependencies,
  event: EventRow,
  target: Pick<DeliveryTarget, 'secrets' | 'headers' | 'signature' | 'template'>,
  now: Date,
): Promise<FormedRequest> {
  const envelope = webhookEnvelope(event, deps.signer, now);
  let body: string;
  if (target.template === null) body = JSON.stringify(envelope);
  else {
    const rendered = await deps.templates.render(target.template, envelope);
    if (!rendered.ok) return { error: { class: 'template', message: rendered.message } };
    body = rendered.body;
  }
  const headers = {
    // The endpoint's own headers first: Kiln's, after them, can never be replaced (the API refuses their names too).
    ...target.headers,
    'content-type': 'application/json',
    'user-agent': deps.userAgent,
    'x-kiln-event': event.type,
    ...signDelivery(activeSecrets(target.secrets, now), event.id, now, body, target.signature),
  };
  return { headers, body };
}

export interface AttemptRequest {
  trigger: AttemptTrigger;
  /** The attempt's place in the delivery's schedule (1 for the first); a manual attempt leaves the schedule alone. */
  number: number;
  requestTimeoutSeconds: number;
  /** When the attempt was due: Temporal's schedule time for an activity, the event's dispatch for a first attempt. */
  scheduledAt: Date;
}

export interface AttemptResult {
  verdict: AttemptVerdict;
  /** The attempt's number in the delivery log. */
  attempt: number;
  statusCode: number | null;
  /** The delivery's status once the attempt is logged (`succeeded` when it delivered). */
  deliveryStatus: DeliveryStatus;
}

/**
 * One delivery attempt, wherever it runs (the worker's first attempt, or a Temporal
 * activity for retries and re-deliveries): signs the event for its target, posts it
 * through the address guard, logs the attempt with the delivery's new summary, keeps the
 * endpoint's failure streak, and disables the endpoint on 410. What happens next (a retry,
 * giving up) is the caller's to carry out, from the verdict.
 */
export async function makeAttempt(deps: AttemptDependencies, one: DeliveryForAttempt, request: AttemptRequest): Promise<AttemptResult> {
  const { delivery, event, target } = one;
  const { db } = deps;
  const now = new Date();
  if ('refusal' in target) {
    const logged = await deps.attemptLog.record(delivery.id, {
      trigger: request.trigger,
      url: delivery.url,
      scheduledAt: request.scheduledAt,
      startedAt: now,
      durationMs: 0,
      statusCode: null,
      responseBodyPreview: null,
      request: null,
      error: target.refusal,
      nextAttemptAt: null,
    });
    const { message } = target.refusal;
    const verdict: AttemptVerdict = {
      kind: 'give_up',
      error: target.refusal,
      failureType: target.refusal.class,
      failureMessage: message,
      disableEndpoint: false,
    };
    webhookAttempts.inc({ outcome: 'failed', error_class: target.refusal.class });
    return { verdict, attempt: logged.attempt, statusCode: null, deliveryStatus: logged.status };
  }

  const formed = await formRequest(deps, event, target, now);
  const outcome: AttemptOutcome =
    'error' in formed
      ? { startedAt: now, durationMs: 0, statusCode: null, retryAfter: undefined, bodyPreview: null, error: formed.error }
      : await postWebhook(target.url, formed.headers, formed.body, { guard: deps.guard, timeoutMs: request.requestTimeoutSeconds * 1000 });
  const verdict = await throttled(
    db,
    one,
    judgeAttempt(outcome, { trigger: request.trigger, number: request.number, retrySchedule: delivery.retry_schedule, now: new Date() }),
  );
  const error = verdict.kind === 'delivered' ? null : verdict.error;
  const logged = await deps.attemptLog.record(delivery.id, {
    trigger: request.trigger,
    url: target.url,
    scheduledAt: request.scheduledAt,
    startedAt: outcome.startedAt,
    durationMs: outcome.durationMs,
    statusCode: outcome.statusCode,
    responseBodyPreview: outcome.bodyPreview,
    request: 'error' in formed ? null : { headers: formed.headers, body: textPreview(Buffer.from(formed.body), REQUEST_BODY_LOG_BYTES) },
    error,
    nextAttemptAt: verdict.kind === 'manual_failed' ? 'unchanged' : verdict.kind === 'retry' ? new Date(Date.now() + verdict.delaySeconds * 1000) : null,
    succeeded: error === null,
  });
  webhookAttempts.inc({ outcome: error === null ? 'delivered' : verdict.kind === 'retry' ? 'retry' : 'failed', error_class: error?.class ?? '' });
  // A success only needs writing to the endpoint when it ends a failure streak.
  if (target.endpointId && error?.class !== 'blocked_address' && (error !== null || target.failing)) {
    await noteEndpointOutcome(db, target.endpointId, error === null, deps.disableAfterSeconds);
  }
  if (verdict.kind === 'give_up' && verdict.disableEndpoint && target.endpointId) {
    await disableEndpoint(db, target.endpointId, `the endpoint answered 410 Gone on ${new Date().toISOString()}`);
  }
  return { verdict, attempt: logged.attempt, statusCode: outcome.statusCode, deliveryStatus: logged.status };
}

/** A retry's wait, moved on to its turn when the target is throttled (see ./throttle.ts). */
async function throttled(db: Kysely<Database>, one: DeliveryForAttempt, verdict: AttemptVerdict): Promise<AttemptVerdict> {
  if (verdict.kind !== 'retry') return verdict;
  const turn = await takeTurn(db, one, new Date(Date.now() + verdict.delaySeconds * 1000));
  return { ...verdict, delaySeconds: Math.max(verdict.delaySeconds, Math.ceil(waitFor(turn)) / 1000) };
}
