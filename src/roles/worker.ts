import os from 'node:os';
import type { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import type { KilnConfig } from '../config.js';
import type { DatabaseHandle } from '../db/database.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { ConverterPool } from '../convert/converter-pool.js';
import { createWorkers, runWorkers } from '../worker/temporal-worker.js';
import { conversionRunSettings } from '../conversions/workflow.js';
import { ensureReconcileSchedule } from '../temporal/reconcile.js';
import { ensureRetentionSchedule } from '../temporal/retention.js';
import { attemptDependencies, converterPoolFor, deliveryGraceSeconds, FIRST_ATTEMPT_DRAIN_MS, firstAttemptsFor, PublicUrl, sourceSettings } from './wiring.js';
import type { FirstAttempts } from '../webhooks/first-attempts.js';

export interface WorkerRole {
  done: Promise<void>;
  stop: () => void;
  /** Every Temporal worker is polling, and none is stopping. */
  ready: () => boolean;
  converter: ConverterPool;
  /** Takes charge of the deliveries of events this process publishes: first attempts here, retries as workflows. */
  deliveries: FirstAttempts;
}

/** Seconds a stored conversion may wait for its workflow before the reconcile schedule starts it. */
const CONVERSION_GRACE_SECONDS = 30;

/** The worker process role: all of Kiln's Temporal workers until stopped, and the reconcile schedule. */
export async function startWorkerRole(
  config: KilnConfig,
  database: DatabaseHandle,
  temporal: { native: NativeConnection; client: Client },
  blobs: BlobStore,
  publicUrl: PublicUrl = new PublicUrl(config),
): Promise<WorkerRole> {
  // Its runs wait on the `kiln` queue until the workers below poll it.
  await ensureReconcileSchedule(temporal.client);
  await ensureRetentionSchedule(temporal.client);
  const converter = converterPoolFor(config);
  const deliver = attemptDependencies(config, database.background, publicUrl);
  const deliveries = firstAttemptsFor(config, deliver, temporal.client, database);
  const workers = await createWorkers({
    connection: temporal.native,
    client: temporal.client,
    deliveries,
    defaultRetrySchedule: config.webhookRetrySchedule,
    deliver,
    reconcile: {
      conversionGraceSeconds: CONVERSION_GRACE_SECONDS,
      deliveryGraceSeconds: deliveryGraceSeconds(config),
      conversion: conversionRunSettings(config),
      requestTimeoutSeconds: config.webhookTimeoutSeconds,
      defaultRetrySchedule: config.webhookRetrySchedule,
    },
    deliverConcurrency: config.deliverConcurrency,
    namespace: config.temporalNamespace,
    db: database.db,
    blobs,
    converter,
    convertConcurrency: config.convertConcurrency,
    sources: sourceSettings(config),
    identity: `${config.workerName}/${process.pid}@${os.hostname()}`,
    shutdownGraceSeconds: config.shutdownGraceSeconds,
    retention: {
      originals: config.retentionOriginals,
      outputs: config.retentionOutputs,
      archives: config.retentionArchives,
      eventPayloads: config.retentionEvents,
      attemptPreviews: config.retentionAttempts,
    },
  }).catch(async (error: unknown) => {
    await converter.close();
    throw error;
  });
  const abort = new AbortController();
  const done = runWorkers(workers, abort.signal).finally(async () => {
    await deliveries.close(FIRST_ATTEMPT_DRAIN_MS);
    await converter.close();
  });
  return {
    done,
    stop: () => abort.abort(),
    ready: () => !abort.signal.aborted && workers.every((worker) => worker.getState() === 'RUNNING'),
    converter,
    deliveries,
  };
}
