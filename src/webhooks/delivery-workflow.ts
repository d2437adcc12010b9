import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { markDispatched } from '../db/deliveries.js';
import type { Database, Delivery } from '../db/schema.js';
import { redeliverSignal, type DeliveryWorkflowInput, type WorkflowOf } from '../../workflows/definitions.js';
import { TASK_QUEUES } from '../names.js';
import { SEARCH_ATTRIBUTES } from '../search-attributes.js';
import { accountPriority } from '../fairness.js';

function searchAttributes(delivery: Delivery) {
  return [
    { key: SEARCH_ATTRIBUTES.accountId, value: delivery.account_id },
    { key: SEARCH_ATTRIBUTES.deliveryId, value: delivery.id },
    { key: SEARCH_ATTRIBUTES.endpointId, value: delivery.target },
    { key: SEARCH_ATTRIBUTES.eventType, value: delivery.event_type },
    { key: SEARCH_ATTRIBUTES.status, value: 'pending' },
  ];
}

function workflowInput(delivery: Delivery, requestTimeoutSeconds: number, runScheduled: boolean): DeliveryWorkflowInput {
  return { deliveryId: delivery.id, retrySchedule: delivery.retry_schedule, requestTimeoutSeconds, runScheduled };
}

/**
 * The schedule from where the delivery stands: attempts already made (a first attempt
 * made before any workflow) and the wait until the next one, from its `next_attempt_at`.
 */
function scheduledRunInput(delivery: Delivery, requestTimeoutSeconds: number, now: Date): DeliveryWorkflowInput {
  const input = workflowInput(delivery, requestTimeoutSeconds, true);
  // To the millisecond: a throttled target's turn may fall between two seconds.
  const wait = delivery.next_attempt_at ? Math.max(0, delivery.next_attempt_at.getTime() - now.getTime()) / 1000 : 0;
  if (delivery.attempt_count === 0) return wait > 0 ? { ...input, firstAttemptInSeconds: wait } : input;
  return { ...input, attemptsMade: delivery.attempt_count, nextAttemptInSeconds: wait };
}

/**
 * Starts the workflows of stored deliveries, each from where it stands (see
 * scheduledRunInput). A workflow id that was ever used is left alone (REJECT_DUPLICATE),
 * so a retried publisher or the reconciler never runs a finished delivery again; only
 * `redeliver` does that.
 */
export async function startDeliveryWorkflows(
  client: Client,
  db: Kysely<Database>,
  deliveries: Delivery[],
  requestTimeoutSeconds: number,
  now: Date = new Date(),
): Promise<void> {
  const started: string[] = [];
  await Promise.all(
    deliveries.map(async (delivery) => {
      try {
        await client.workflow.start<WorkflowOf<'deliveryWorkflow'>>('deliveryWorkflow', {
          workflowId: delivery.workflow_id,
          taskQueue: TASK_QUEUES.deliver,
          args: [scheduledRunInput(delivery, requestTimeoutSeconds, now)],
          typedSearchAttributes: searchAttributes(delivery),
          priority: accountPriority(delivery.account_id),
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        });
      } catch (error) {
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      }
      started.push(delivery.id);
    }),
  );
  await markDispatched(db, started);
}

/**
 * An immediate attempt: signals the running workflow, or re-runs a closed one (or starts
 * one for a delivery that never needed a workflow) under the same id.
 */
export async function redeliver(client: Client, db: Kysely<Database>, delivery: Delivery, requestTimeoutSeconds: number): Promise<void> {
  await client.workflow.signalWithStart<WorkflowOf<'deliveryWorkflow'>, []>('deliveryWorkflow', {
    workflowId: delivery.workflow_id,
    taskQueue: TASK_QUEUES.deliver,
    args: [workflowInput(delivery, requestTimeoutSeconds, false)],
    typedSearchAttributes: searchAttributes(delivery),
    priority: accountPriority(delivery.account_id),
    signal: redeliverSignal,
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
  });
  await markDispatched(db, [delivery.id]);
}

/** Requests the run's cancellation (it ends Canceled); false when the delivery's workflow is not running. */
export async function cancelDeliveryRetries(client: Client, delivery: Delivery): Promise<boolean> {
  try {
    await client.workflow.getHandle(delivery.workflow_id).cancel();
    return true;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return false;
    throw error;
  }
}
