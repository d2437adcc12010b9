import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { listStaleQueued } from '../db/conversions.js';
import type { Database } from '../db/schema.js';
import { startConversionWorkflow } from '../temporal/conversions.js';

/**
 * Starts the workflow of every conversion accepted but still queued after `graceSeconds`:
 * the API may have died, or Temporal may have been down, between storing the row and
 * starting the workflow. Starting is idempotent (same workflow id), so a workflow that
 * already runs is left alone.
 */
export async function startStrandedConversions(
  db: Kysely<Database>,
  client: Client,
  options: { graceSeconds: number; heartbeatTimeoutSeconds: number },
): Promise<number> {
  let started = 0;
  for (const row of await listStaleQueued(db, options.graceSeconds, 500)) {
    await startConversionWorkflow(client, row, options.heartbeatTimeoutSeconds);
    started++;
  }
  return started;
}

/** Runs `startStrandedConversions` now and then every `intervalMs` until stopped. */
export function runReconciler(
  db: Kysely<Database>,
  client: Client,
  options: { graceSeconds: number; heartbeatTimeoutSeconds: number; intervalMs: number; log: (m: string, e?: unknown) => void },
): () => void {
  let running = false;
  const tick = async (): Promise<void> => {
    if (running) return;
    running = true;
    try {
      await startStrandedConversions(db, client, options);
    } catch (error) {
      options.log('could not start stranded conversions (will try again)', error);
    } finally {
      running = false;
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
