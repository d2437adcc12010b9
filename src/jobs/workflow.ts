import { cancelJobUpdate, type WorkflowOf } from '../../workflows/definitions.js';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { cancelRun, type CancelAnswer } from '../temporal/cancel-run.js';
import type { Job } from '../db/schema.js';
import type { ConversionRunSettings } from '../../workflows/definitions.js';
import { jobWorkflowId, TASK_QUEUES } from '../names.js';
import { SEARCH_ATTRIBUTES } from '../search-attributes.js';
import { accountPriority } from '../fairness.js';

/** Starts the job's workflow; starting one that already exists is a no-op, so callers may retry. */
export async function startJobWorkflow(client: Client, job: Job, run: ConversionRunSettings): Promise<void> {
  try {
    await client.workflow.start<WorkflowOf<'jobWorkflow'>>('jobWorkflow', {
      workflowId: jobWorkflowId(job.id),
      taskQueue: TASK_QUEUES.workflows,
      args: [{ jobId: job.id, accountId: job.account_id, total: job.total, concurrency: job.concurrency, run }],
      typedSearchAttributes: [
        { key: SEARCH_ATTRIBUTES.accountId, value: job.account_id },
        { key: SEARCH_ATTRIBUTES.jobId, value: job.id },
        { key: SEARCH_ATTRIBUTES.status, value: 'queued' },
      ],
      priority: accountPriority(job.account_id, 'bulk'),
    });
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
  }
}

/** Asks the job's run to cancel; answers what it said (see cancelRun). */
export function cancelJobRun(client: Client, jobId: string): Promise<CancelAnswer> {
  return cancelRun(client, jobWorkflowId(jobId), cancelJobUpdate);
}
