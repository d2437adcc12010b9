import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { DeliverActivities } from '../activities/deliver.js';
import { SEARCH_ATTRIBUTES } from '../src/search-attributes.js';
import {
  cancelSignal,
  deliveryStatusQuery,
  redeliverSignal,
  type DeliveryOutcome,
  type DeliveryPhase,
  type DeliveryWorkflowInput,
  BOOKKEEPING_ACTIVITY_OPTIONS,
} from './definitions.js';

const record = proxyActivities<DeliverActivities>(BOOKKEEPING_ACTIVITY_OPTIONS);

/** Scheduled attempts that may die without answering (their worker lost) before a delivery gives up. */
const LOST_ATTEMPTS_TOLERATED = 3;

/**
 * Delivers one event to one target. The first scheduled attempt is a local activity; if
 * it fails with retries left, a durable timer waits the first entry of the schedule, and
 * one activity whose Temporal retry policy allows one attempt per remaining entry makes
 * the rest. The activity names each wait (`nextRetryDelay`), so the waits are the
 * schedule's, not an exponential curve's. `redeliver` runs an extra attempt at once
 * beside pending retries; `cancel` drops the pending retries. A `redeliver` that arrives
 * as the run ends continues it as a new run that makes the manual attempt.
 *
 * The run ends as the delivery did: Completed, Failed (the last attempt's error class as
 * the failure type), or Canceled when its cancellation was requested (the API's cancel,
 * or the Web UI's). `KilnStatus` is set when it ends.
 */
export async function deliveryWorkflow(input: DeliveryWorkflowInput): Promise<DeliveryOutcome> {
  const attempt = { deliveryId: input.deliveryId, retrySchedule: input.retrySchedule, requestTimeoutSeconds: input.requestTimeoutSeconds };
  // The HTTP timeout plus room for the database writes around it.
  const startToCloseTimeout = `${input.requestTimeoutSeconds + 30} seconds`;
  const longestWait = Math.max(1, ...input.retrySchedule);
  /** Scheduled attempts as one activity, the first `made` of them already made elsewhere. */
  const attemptsAfter = (made: number) =>
    proxyActivities<DeliverActivities>({
      startToCloseTimeout,
      retry: {
        // Used only when an attempt dies without answering (a lost worker); otherwise nextRetryDelay decides.
        initialInterval: `${input.retrySchedule[made] ?? input.retrySchedule[0] ?? 1} seconds`,
        backoffCoefficient: 1,
        maximumInterval: `${2 * longestWait} seconds`,
        // The activity gives up when the log shows the schedule spent; the room above that is
        // for attempts lost with their worker, which take no place in the schedule.
        maximumAttempts: input.retrySchedule.length + 1 - made + LOST_ATTEMPTS_TOLERATED,
      },
    });
  const manual = proxyActivities<DeliverActivities>({ startToCloseTimeout, retry: { maximumAttempts: 1 } });
  // The first attempt runs inside the first workflow task, with no activity task on the server.
  const firstAttempt = proxyLocalActivities<DeliverActivities>({ startToCloseTimeout, retry: { maximumAttempts: 1 } });

  /**
   * The scheduled attempts: the first as a local activity; if it fails with retries left,
   * a durable timer for the first wait, then one activity whose retry policy carries the
   * rest of the schedule (its attempt numbers offset by the one already made). A delivery
   * whose first attempt was made before the workflow started begins at that timer.
   */
  async function scheduledAttempts(): Promise<unknown> {
    // A run an older worker began ignored these inputs and made its own first attempt: replay that.
    const resumed = (input.attemptsMade ?? 0) > 0 && patched('first-attempt-made-before-the-run');
    let made = resumed ? input.attemptsMade! : 0;
    let waitSeconds = resumed ? (input.nextAttemptInSeconds ?? 0) : 0;
    if (made === 0) {
      // A throttled target's turn, given before the run started or by the first try: wait for it on a durable timer.
      let turnTaken = (input.firstAttemptInSeconds ?? 0) > 0;
      if (turnTaken) await sleep(`${input.firstAttemptInSeconds} seconds`);
      let first = await firstAttempt.deliverWebhook({ ...attempt, trigger: 'scheduled', answerRetries: true, ...(turnTaken ? { turnTaken } : {}) });
      if ('throttledForSeconds' in first) {
        await sleep(`${first.throttledForSeconds} seconds`);
        turnTaken = true;
        first = await firstAttempt.deliverWebhook({ ...attempt, trigger: 'scheduled', answerRetries: true, turnTaken });
      }
      if (first.delivered) return first;
      if ('throttledForSeconds' in first) throw ApplicationFailure.nonRetryable('a throttle turn was given twice', 'delivery_failed');
      made = 1;
      waitSeconds = first.retryInSeconds;
    }
    if (made > input.retrySchedule.length) throw ApplicationFailure.nonRetryable('every scheduled attempt was made', 'delivery_failed');
    if (waitSeconds > 0) await sleep(`${waitSeconds} seconds`);
    return attemptsAfter(made).deliverWebhook({ ...attempt, trigger: 'scheduled', attemptOffset: made });
  }

  // Runs started before these changes replay as they were recorded.
  const localFirstAttempt = patched('local-first-attempt');
  const truthful = patched('truthful-run-state');
  let phase: DeliveryPhase = 'pending';
  let lastFailure: { message: string; type: string } = { message: 'the delivery failed', type: 'delivery_failed' };
  const noteFailure = (error: unknown): void => {
    const cause = error instanceof ActivityFailure ? error.cause : error;
    if (cause instanceof ApplicationFailure) lastFailure = { message: cause.message, type: cause.type ?? 'delivery_failed' };
    else if (cause instanceof Error) lastFailure = { message: cause.message, type: 'delivery_failed' };
  };
  let manualRequests = input.manualRequested ? 1 : 0;
  let cancelRequested = false;
  // A re-run of a closed delivery has no schedule left: if its manual attempt fails, it stays failed.
  const retried: { outcome: DeliveryOutcome | undefined } = { outcome: input.runScheduled ? undefined : 'failed' };
  const retries = new CancellationScope();

  setHandler(redeliverSignal, () => {
    manualRequests += 1;
  });
  setHandler(cancelSignal, () => {
    cancelRequested = true;
    retries.cancel();
  });
  setHandler(deliveryStatusQuery, () => phase);

  if (input.runScheduled) {
    retries
      .run(() => (localFirstAttempt ? scheduledAttempts() : attemptsAfter(0).deliverWebhook({ ...attempt, trigger: 'scheduled' })))
      .then(
        () => (retried.outcome = 'succeeded'),
        (error: unknown) => {
          if (!isCancellation(error)) noteFailure(error);
          retried.outcome = isCancellation(error) ? 'cancelled' : 'failed';
        },
      );
  }

  let outcome: DeliveryOutcome | undefined;
  let cancellation: Error | undefined;
  try {
    while (!outcome) {
      await condition(() => manualRequests > 0 || retried.outcome !== undefined || cancelRequested);
      if (manualRequests > 0 && !cancelRequested) {
        // Signals that arrive together make one attempt, not several.
        manualRequests = 0;
        try {
          await manual.deliverWebhook({ ...attempt, trigger: 'manual' });
          retries.cancel();
          outcome = 'succeeded';
        } catch (error) {
          if (isCancellation(error)) throw error;
          noteFailure(error);
          // A failed manual attempt leaves the scheduled retries, if any, to carry on.
        }
      } else if (retried.outcome === 'succeeded') {
        outcome = 'succeeded';
      } else if (cancelRequested) {
        outcome = 'cancelled';
      } else if (retried.outcome !== undefined) {
        outcome = retried.outcome;
      }
    }
  } catch (error) {
    // Cancelling the workflow itself (e.g. from the Web UI) counts as cancelling the delivery.
    if (!isCancellation(error)) throw error;
    cancellation = error as Error;
    outcome = 'cancelled';
  }
  phase = outcome;
  const final = outcome;
  // A successful attempt has already marked the delivery succeeded along with its log entry.
  if (final !== 'succeeded') await CancellationScope.nonCancellable(() => record.recordDeliveryOutcome(input.deliveryId, final));
  // A retry the API sent once the loop was left (the row may already say failed, and the
  // API has re-opened it) would be lost if this run simply ended: a new run makes it.
  if (manualRequests > 0 && cancellation === undefined && !cancelRequested && patched('manual-request-as-the-run-ends')) {
    return continueAsNew<typeof deliveryWorkflow>({ ...input, runScheduled: false, manualRequested: true });
  }
  if (!truthful) return final;
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value: final }]);
  if (final === 'failed') throw ApplicationFailure.nonRetryable(lastFailure.message, lastFailure.type);
  // A cancellation request ends the run Canceled; the `cancel` signal alone cannot, so it completes.
  if (cancellation !== undefined) throw cancellation;
  return final;
}
