import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { listStaleQueued } from '../db/conversions.js';
import type { Database } from '../db/schema.js';
import { startConversionWorkflow } from '../conversions/workflow.js';
import { type ConversionRunSettings } from '../../workflows/definitions.js';
import { claimUndispatched } from '../db/deliveries.js';
import { listStaleQueuedJobs } from '../db/jobs.js';
import { eventsOwingFanOut } from '../db/events.js';
import { fanOutEvent } from '../events/publish.js';
import { startJobWorkflow } from '../jobs/workflow.js';
import { startDeliveryWorkflows } from '../webhooks/delivery-workflow.js';
import { RECONCILE_SCHEDULE_ID } from '../names.js';
import { ensureIntervalSchedule } from './schedules.js';

export interface ReconcileOptions {
  /** How long a conversion (or a job) may stay queued before its workflow counts as never started. */
  conversionGraceSeconds: number;
  /**
   * How long a pending delivery may go without a workflow before it counts as stranded:
   * longer than a first attempt can take (see webhooks/first-attempts.ts).
   */
  deliveryGraceSeconds: number;
  conversion: ConversionRunSettings;
  requestTimeoutSeconds: number;
  /** The schedule of deliveries whose targets set none, for the fan-outs planned here. */
  defaultRetrySchedule: number[];
}

/**
 * Starts the workflow of every conversion and job accepted but still queued after its grace, and
 * of every pending delivery nobody has taken charge of (planning first the deliveries of events
 * whose fan-out is still owed): the process may have died, or
 * Temporal may have been down, between storing the row and starting the workflow (or
 * during a first attempt). A delivery's workflow starts from where its log stands.
 * Starting is idempotent (same workflow id), so a workflow that already ran is left alone.
 * Run by the `kiln-reconcile` schedule's workflow.
 */
export async function startStrandedWork(db: Kysely<Database>, client: Client, options: ReconcileOptions): Promise<number> {
  let started = 0;
  for (const row of await listStaleQueued(db, options.conversionGraceSeconds, 500)) {
    await startConversionWorkflow(client, row, options.conversion);
    started++;
  }
  // A job's files are its workflow's to start: only the job itself is looked after here.
  for (const job of await listStaleQueuedJobs(db, options.conversionGraceSeconds, 500)) {
    await startJobWorkflow(client, job, options.conversion);
    started++;
  }
  // An event's fan-out still owed after the grace: the process planning it stopped or failed.
  for (const eventId of await eventsOwingFanOut(db, options.deliveryGraceSeconds, 100)) {
    const planned = await fanOutEvent(db, eventId, options.defaultRetrySchedule);
    await startDeliveryWorkflows(
      client,
      db,
      planned.map((one) => one.delivery),
      options.requestTimeoutSeconds,
    );
    started += planned.length;
  }
  const deliveries = await claimUndispatched(db, options.deliveryGraceSeconds, 500, options.deliveryGraceSeconds);
  await startDeliveryWorkflows(client, db, deliveries, options.requestTimeoutSeconds);
  return started + deliveries.length;
}

/** How often the schedule looks for stranded work; the grace above keeps it off work still being started. */
const RECONCILE_EVERY = '1 minute';

/** The `kiln-reconcile` schedule: `reconcileWorkflow` every minute. */
export function ensureReconcileSchedule(client: Client): Promise<void> {
  return ensureIntervalSchedule(client, RECONCILE_SCHEDULE_ID, 'reconcileWorkflow', RECONCILE_EVERY);
}
