import { proxyActivities } from '@temporalio/workflow';
import type { ReconcileActivities } from '../activities/reconcile.js';

const { startStrandedWork } = proxyActivities<ReconcileActivities>({
  startToCloseTimeout: '5 minutes',
  // The schedule runs this again in a minute; retrying here would only overlap it.
  retry: { maximumAttempts: 1 },
});

/**
 * Run by the `kiln-reconcile` schedule, once per deployment however many API and worker
 * processes there are: starts work whose workflow start was lost (see temporal/reconcile.ts).
 */
export async function reconcileWorkflow(): Promise<number> {
  return startStrandedWork();
}
