import type { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { TASK_QUEUES } from '../names.js';

const { TaskQueueType } = proto.temporal.api.enums.v1;

/** One of Kiln's task queues as the Temporal server sees it: who polls it, and what waits in it. */
export interface TaskQueueState {
  name: string;
  kind: 'workflow' | 'activity';
  /** Workers that polled it lately (the server forgets a poller a few minutes after its last poll). */
  pollers: Array<{ identity: string; last_access_time: string | null }>;
  /** Tasks waiting for a worker; null when the server does not report it. */
  backlog: number | null;
  /** How long the oldest waiting task has waited, in seconds; null when none waits or it is not reported. */
  backlog_age_seconds: number | null;
}

const QUEUES = [
  { name: TASK_QUEUES.workflows, kind: 'workflow' },
  { name: TASK_QUEUES.workflows, kind: 'activity' },
  { name: TASK_QUEUES.convert, kind: 'activity' },
  { name: TASK_QUEUES.convertJobs, kind: 'activity' },
  { name: TASK_QUEUES.deliver, kind: 'activity' },
] as const;

const seconds = (duration: { seconds?: unknown; nanos?: number | null } | null | undefined): number | null =>
  duration ? Number(duration.seconds ?? 0) + (duration.nanos ?? 0) / 1e9 : null;

/** Each of Kiln's task queues, described by the server (its pollers and backlog). */
export async function describeTaskQueues(connection: Pick<Connection, 'workflowService'>, namespace: string): Promise<TaskQueueState[]> {
  return Promise.all(
    QUEUES.map(async ({ name, kind }) => {
      const described = await connection.workflowService.describeTaskQueue({
        namespace,
        taskQueue: { name },
        taskQueueType: kind === 'workflow' ? TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW : TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        reportStats: true,
      });
      const stats = described.stats;
      return {
        name,
        kind,
        pollers: (described.pollers ?? []).map((poller) => ({
          identity: poller.identity ?? '',
          last_access_time: poller.lastAccessTime ? new Date(seconds(poller.lastAccessTime)! * 1000).toISOString() : null,
        })),
        backlog: stats ? Number(stats.approximateBacklogCount ?? 0) : null,
        backlog_age_seconds: stats?.approximateBacklogAge ? seconds(stats.approximateBacklogAge) : null,
      };
    }),
  );
}
