import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { listStaleQueued } from '../db/conversions.js';
import type { Database } from '../db/schema.js';
import { startConversionWorkflow, type ConversionRunSettings } from './conversions.js';
import { listUndispatched } from '../db/deliveries.js';
import { startDeliveryWorkflows } from './deliveries.js';

export interface ReconcileOptions {
  graceSeconds: number;
  conversion: ConversionRunSettings;
  requestTimeoutSeconds: number;
}

/**
 * Starts the workflow of every conversion accepted but still queued after `graceSeconds`,
 * and of every delivery stored but never dispatched: the process may have died, or
 * Temporal may have been down, between storing the row and starting the workflow.
 * Starting is idempotent (same workflow id), so a workflow that already ran is left alone.
 */
export async function startStrandedWork(db: Kysely<Database>, client: Client, options: ReconcileOptions): Promise<number> {
  let started = 0;
  for (const row of await listStaleQueued(db, options.graceSeconds, 500)) {
    await startConversionWorkflow(client, row, options.conversion);
    started++;
  }
  const deliveries = await listUndispatched(db, options.graceSeconds, 500);
  await startDeliveryWorkflows(client, db, deliveries, options.requestTimeoutSeconds);
  return started + deliveries.length;
}

/** Runs `startStrandedWork` now and then every `intervalMs` until stopped. */
export function runReconciler(
  db: Kysely<Database>,
  client: Client,
  options: ReconcileOptions & { intervalMs: number; log: (m: string, e?: unknown) => void },
): () => void {
  let running = false;
  const tick = async (): Promise<void> => {
    if (running) return;
    running = true;
    try {
      await startStrandedWork(db, client, options);
    } catch (error) {
      options.log('could not start stranded conversions or deliveries (will try again)', error);
    } finally {
      running = false;
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
