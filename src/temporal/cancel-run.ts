import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { UpdateDefinition } from '@temporalio/common';
import { CANCEL_REFUSED } from '../../workflows/definitions.js';

/**
 * How a run answered a cancel: it will end cancelled; it had already ended (as what, when it
 * says); there is no run; or it did not answer within ANSWER_WAIT_MS (no worker took it).
 */
export type CancelAnswer = { kind: 'cancelled' } | { kind: 'ended'; as?: string } | { kind: 'no-run' } | { kind: 'unanswered' };

/**
 * How long a cancel waits for the run's answer: a worker picks an update up within
 * milliseconds; past this none is taking the run's tasks (stopped, or saturated), and the
 * caller decides without it rather than hang.
 */
const ANSWER_WAIT_MS = 5_000;

/**
 * Requests the run's cancellation, so it ends Canceled in the Web UI, as a cancellation
 * through it does. Within ANSWER_WAIT_MS: a server that is away fails it then, and the
 * caller answers that (the SDK alone would retry for about 20 s).
 */
async function requestCancellation(client: Client, handle: WorkflowHandle): Promise<void> {
  try {
    await client.withDeadline(Date.now() + ANSWER_WAIT_MS, () => handle.cancel());
  } catch (error) {
    if (!(error instanceof WorkflowNotFoundError)) throw error;
  }
}

/**
 * Asks the run `workflowId` to cancel through its `cancel` update, and answers what the run
 * said: the API's 202 or 409 is the run's own answer, never a guess. A run that will end
 * cancelled is then sent a cancellation request too, so it ends Canceled. `no-run`: no run
 * under that id (never started, or already closed); `unanswered`: no answer in time, and the
 * run was sent a cancellation request (which takes effect when a worker takes it up). A run
 * started before runs answered cancels has no handler for the update: it gets the
 * cancellation request alone, as then.
 */
export async function cancelRun(client: Client, workflowId: string, update: UpdateDefinition<string>): Promise<CancelAnswer> {
  const handle = client.workflow.getHandle(workflowId);
  let answer: string;
  try {
    answer = await client.withDeadline(Date.now() + ANSWER_WAIT_MS, () => handle.executeUpdate(update));
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return { kind: 'no-run' };
    if (error instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
      await requestCancellation(client, handle);
      return { kind: 'unanswered' };
    }
    if (!(error instanceof WorkflowUpdateFailedError)) throw error;
    if (error.cause instanceof ApplicationFailure && error.cause.type === CANCEL_REFUSED) return { kind: 'ended' };
    await requestCancellation(client, handle);
    return { kind: 'cancelled' };
  }
  if (answer !== 'cancelled') return { kind: 'ended', as: answer };
  await requestCancellation(client, handle);
  return { kind: 'cancelled' };
}
