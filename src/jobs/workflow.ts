import type { WorkflowOf } from '../../workflows/definitions.js';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Job } from '../db/schema.js';
import type { ConversionRunSettings } from '../../workflows/definitions.js';
import { jobWorkflowId, TASK_QUEUES } from '../names.js';
import { SEARCH_ATTRIBUTES } from '../search-attributes.js';

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
    });
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
  }
}

/**
 * Requests the job run's cancellation (so it ends Canceled, as the Web UI's cancel does);
 * false when no workflow runs under that id (never started, or already closed).
 */
export async function cancelJobWorkflow(client: Client, jobId: string): Promise<boolean> {
  try {
    await client.workflow.getHandle(jobWorkflowId(jobId)).cancel();
    return true;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return false;
    throw error;
  }
}
