import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { RETENTION_SCHEDULE_ID, TASK_QUEUES, type WorkflowName } from './names.js';

/** How often the schedule purges; periods are days, so an hour late is nothing. */
const RETENTION_EVERY = '1 hour';

/**
 * Creates the `kiln-retention` schedule unless it exists (every worker calls this at start;
 * the id makes it one per deployment). An existing schedule is left as it is, so an
 * operator may pause it in the Web UI, or trigger a run now.
 */
export async function ensureRetentionSchedule(client: Client): Promise<void> {
  try {
    await client.schedule.create({
      scheduleId: RETENTION_SCHEDULE_ID,
      spec: { intervals: [{ every: RETENTION_EVERY }] },
      action: { type: 'startWorkflow', workflowType: 'retentionWorkflow' satisfies WorkflowName, taskQueue: TASK_QUEUES.workflows, args: [] },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
}
