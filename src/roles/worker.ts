import type { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import type { KilnConfig } from '../config.js';
import type { DatabaseHandle } from '../db/database.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { ConverterPool } from '../convert/converter-pool.js';
import { createWorkers, runWorkers } from '../temporal/worker.js';
import { conversionRunSettings } from '../conversions/workflow.js';
import { ensureReconcileSchedule } from '../temporal/reconcile.js';
import { AddressGuard } from '../webhooks/address-guard.js';
import { converterPoolFor, deliverySettings, downloadSigner, PublicUrl, WEBHOOK_USER_AGENT } from './wiring.js';
import { FirstAttempts } from '../webhooks/first-attempts.js';
import type { DeliveryDispatch } from '../webhooks/dispatch.js';
import { log } from '../log.js';
import { AttemptLog } from '../db/attempt-log.js';

export interface WorkerRole {
  done: Promise<void>;
  stop: () => void;
  converter: ConverterPool;
  /** Takes charge of the deliveries of events this process publishes: first attempts here, retries as workflows. */
  deliveries: DeliveryDispatch;
}

/** Seconds a stored conversion may wait for its workflow before the reconcile schedule starts it. */
const CONVERSION_GRACE_SECONDS = 30;
/** Deliveries that may wait per first-attempt slot; a larger burst goes to workflows. */
const FIRST_ATTEMPT_MAX_WAITING_PER_SLOT = 50;
/** Seconds a delivery may wait for a first-attempt slot in this process before it goes to a workflow instead. */
const FIRST_ATTEMPT_WINDOW_SECONDS = 15;
/** Room for logging an attempt after its request ended, before the reconcile schedule may take the delivery over. */
const FIRST_ATTEMPT_MARGIN_SECONDS = 30;
/** How long first attempts may take to end in this process before they may be stopped with the workers. */
const FIRST_ATTEMPT_DRAIN_MS = 15_000;

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
  const converter = converterPoolFor(config);
  const deliver = {
    attemptLog: new AttemptLog(database.db),
    guard: new AddressGuard(config.webhookAllowedCidrs ?? []),
    signer: downloadSigner(config, publicUrl),
    disableAfterSeconds: config.endpointDisableAfterSeconds,
    userAgent: WEBHOOK_USER_AGENT,
  };
  const deliveries = new FirstAttempts({
    attempt: { db: database.db, ...deliver },
    client: temporal.client,
    settings: deliverySettings(config),
    concurrency: config.deliverConcurrency,
    maxWaiting: FIRST_ATTEMPT_MAX_WAITING_PER_SLOT * config.deliverConcurrency,
    windowMs: FIRST_ATTEMPT_WINDOW_SECONDS * 1000,
    log,
  });
  const workers = await createWorkers({
    connection: temporal.native,
    client: temporal.client,
    deliveries,
    defaultRetrySchedule: config.webhookRetrySchedule,
    deliver,
    reconcile: {
      conversionGraceSeconds: CONVERSION_GRACE_SECONDS,
      deliveryGraceSeconds: FIRST_ATTEMPT_WINDOW_SECONDS + config.webhookTimeoutSeconds + FIRST_ATTEMPT_MARGIN_SECONDS,
      conversion: conversionRunSettings(config),
      requestTimeoutSeconds: config.webhookTimeoutSeconds,
    },
    deliverConcurrency: config.deliverConcurrency,
    namespace: config.temporalNamespace,
    db: database.db,
    blobs,
    converter,
    convertConcurrency: config.convertConcurrency,
  }).catch(async (error: unknown) => {
    await converter.close();
    throw error;
  });
  const abort = new AbortController();
  const done = runWorkers(workers, abort.signal).finally(async () => {
    await deliveries.close(FIRST_ATTEMPT_DRAIN_MS);
    await converter.close();
  });
  return { done, stop: () => abort.abort(), converter, deliveries };
}
