/**
 * Names Kiln's Temporal runs are known by: workflow types, task queues, workflow ids and
 * the schedules. Plain strings importing nothing, so every layer (database, events, API,
 * workflows) can name a run without loading workflow code.
 */

/** Every workflow type Kiln runs; workflows/index.ts checks that it exports exactly these. */
export const WORKFLOW_NAMES = ['conversionWorkflow', 'deliveryWorkflow', 'jobWorkflow', 'reconcileWorkflow', 'retentionWorkflow'] as const;
export type WorkflowName = (typeof WORKFLOW_NAMES)[number];

/**
 * Workflows and light bookkeeping share `kiln`; sharp work has its own CPU-sized queues: a
 * single upload's on `kiln-convert`, a job's chunks of files on `kiln-convert-jobs`, so a
 * chunk (which holds its worker slot for several files) never keeps an upload from a slot.
 */
export const TASK_QUEUES = {
  workflows: 'kiln',
  convert: 'kiln-convert',
  convertJobs: 'kiln-convert-jobs',
  deliver: 'kiln-deliver',
} as const;

export const conversionWorkflowId = (conversionId: string): string => `conversion-${conversionId}`;

export const jobWorkflowId = (jobId: string): string => `job-${jobId}`;

/** One delivery workflow per event and target: an endpoint id, or `request` for a conversion's own webhook_url. */
export const deliveryWorkflowId = (eventId: string, target: string): string => `delivery-${eventId}-${target}`;

/** The one schedule per deployment that starts work whose start was lost (see temporal/reconcile.ts). */
export const RECONCILE_SCHEDULE_ID = 'kiln-reconcile';

/** The one schedule per deployment that purges what is past its retention (see temporal/retention.ts). */
export const RETENTION_SCHEDULE_ID = 'kiln-retention';
