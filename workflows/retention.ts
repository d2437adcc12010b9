import { proxyActivities } from '@temporalio/workflow';
import type { RetentionActivities } from '../activities/retention.js';
import type { PurgeCounts } from './definitions.js';

const { purgeExpired } = proxyActivities<RetentionActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  // The schedule runs this again within the hour, from where this run stopped.
  retry: { maximumAttempts: 1 },
});

/**
 * Run by the `kiln-retention` schedule, once per deployment: removes originals, outputs,
 * event payloads and attempt previews past their retention periods (KILN_RETENTION_*).
 * Its result, in the Web UI, says what each run removed.
 */
export async function retentionWorkflow(): Promise<PurgeCounts> {
  return purgeExpired();
}
