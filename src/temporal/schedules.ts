import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { TASK_QUEUES, type WorkflowName } from '../names.js';

/**
 * Creates a schedule that starts `workflowType` every `every` on the `kiln` queue, unless it
 * exists. Every worker calls this at start; the schedule id makes it one per deployment. An
 * existing schedule is left as it is, so an operator may pause it (or trigger it) in the Web UI.
 * A run still going when the next is due is not doubled: the next is skipped.
 */
export async function ensureIntervalSchedule(client: Client, scheduleId: string, workflowType: WorkflowName, every: string): Promise<void> {
  try {
    await client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every }] },
      action: { type: 'startWorkflow', workflowType, taskQueue: TASK_QUEUES.workflows, args: [] },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
}
