import { ApplicationFailure, Context } from '@temporalio/activity';
import { findDeliveriesForAttempt, finishDelivery, scheduledAttemptsMade } from '../src/db/deliveries.js';
import type { AttemptTrigger } from '../src/db/schema.js';
import { makeAttempt, type AttemptDependencies } from '../src/webhooks/attempt.js';
import { takeTurn, waitFor } from '../src/webhooks/throttle.js';
import type { DeliveryOutcome } from '../workflows/definitions.js';

export type DeliverDependencies = AttemptDependencies;

export interface DeliverInput {
  deliveryId: string;
  retrySchedule: number[];
  requestTimeoutSeconds: number;
  trigger: AttemptTrigger;
  /** Scheduled attempts made before this activity's first (the first attempt, made elsewhere); its place in the schedule is read from the log. */
  attemptOffset?: number;
  /**
   * Answer a failure that has retries left with its wait instead of throwing it: the
   * workflow then waits on a durable timer (a local activity's failure does not carry
   * the wait Temporal would otherwise apply).
   */
  answerRetries?: boolean;
  /** The first attempt's throttle turn was taken before (it waited for it): take no other. */
  turnTaken?: boolean;
}

export type DeliverResult =
  | { delivered: true; attempt: number; statusCode: number | null }
  | { delivered: false; retryInSeconds: number; error: string }
  /** Not attempted: its target's throttle gave the first attempt a turn this far off (with `answerRetries` only). */
  | { delivered: false; throttledForSeconds: number };

export function createDeliverActivities(deps: DeliverDependencies) {
  return {
    /**
     * One attempt. Throws on failure so Temporal retries it, with `nextRetryDelay` taken
     * from the delivery's schedule (stretched by Retry-After within [delay, 2×delay]). A
     * scheduled attempt's place in the schedule is the count of scheduled attempts logged.
     */
    async deliverWebhook(input: DeliverInput): Promise<DeliverResult> {
      const info = Context.current().info;
      const [found] = await findDeliveriesForAttempt(deps.db, [input.deliveryId]);
      if (!found) throw ApplicationFailure.nonRetryable(`no delivery ${input.deliveryId}`, 'delivery_not_found');
      const first = input.trigger === 'scheduled' && (input.attemptOffset ?? 0) === 0 && info.attempt === 1;
      if (first && input.answerRetries && !input.turnTaken) {
        const wait = waitFor(await takeTurn(deps.db, found, new Date()));
        if (wait > 0) return { delivered: false, throttledForSeconds: wait / 1000 };
      }
      const { verdict, attempt, statusCode } = await makeAttempt(deps, found, {
        trigger: input.trigger,
        number: input.trigger === 'scheduled' ? (await scheduledAttemptsMade(deps.db, input.deliveryId)) + 1 : info.attempt,
        requestTimeoutSeconds: input.requestTimeoutSeconds,
        scheduledAt: new Date(info.currentAttemptScheduledTimestampMs),
      });
      switch (verdict.kind) {
        case 'delivered':
          return { delivered: true, attempt, statusCode };
        case 'retry':
          if (input.answerRetries) return { delivered: false, retryInSeconds: verdict.delaySeconds, error: verdict.error.message };
          throw ApplicationFailure.create({ message: verdict.error.message, type: verdict.error.class, nextRetryDelay: `${verdict.delaySeconds} seconds` });
        case 'manual_failed':
          throw ApplicationFailure.nonRetryable(verdict.error.message, verdict.failureType);
        case 'give_up':
          throw ApplicationFailure.nonRetryable(verdict.failureMessage, verdict.failureType);
      }
    },

    async recordDeliveryOutcome(deliveryId: string, outcome: DeliveryOutcome): Promise<void> {
      await finishDelivery(deps.db, deliveryId, outcome);
    },
  };
}

export type DeliverActivities = ReturnType<typeof createDeliverActivities>;
