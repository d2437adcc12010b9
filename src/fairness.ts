import type { Priority } from '@temporalio/common';

/** Work a person waits on (a conversion of its own, a delivery), or a job's files. */
export type WorkKind = 'interactive' | 'bulk';

/**
 * How an account's work is ordered in a backlogged Temporal task queue. With Temporal's task
 * queue fairness, each fairness key with work waiting gets an equal share of dispatch,
 * however much work it queued; within a key, work goes in order. An account's jobs have a key
 * of their own beside the account's, so a single conversion waits behind neither another
 * account's backlog nor its own account's jobs (an account busy with both kinds gets up to
 * two shares). Activities and child workflows inherit the priority of the workflow that
 * schedules them. A server without fairness (the time-skipping test server, or one with
 * `matching.enableFairness` off) ignores it and dispatches in order of arrival.
 */
export function accountPriority(accountId: string, kind: WorkKind = 'interactive'): Priority {
  return { fairnessKey: kind === 'bulk' ? `${accountId}/jobs` : accountId };
}
