import type { Client } from '@temporalio/client';
import { RETENTION_SCHEDULE_ID } from '../names.js';
import { ensureIntervalSchedule } from './schedules.js';

/** How often the schedule purges; periods are days, so an hour late is nothing. */
const RETENTION_EVERY = '1 hour';

/** The `kiln-retention` schedule: `retentionWorkflow` (workflows/retention.ts) every hour. */
export function ensureRetentionSchedule(client: Client): Promise<void> {
  return ensureIntervalSchedule(client, RETENTION_SCHEDULE_ID, 'retentionWorkflow', RETENTION_EVERY);
}
